import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

const lowestPort = 20_000;
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (32768 unless configured otherwise). */
async function ephemeralRangeStart(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const start = Number.parseInt(range.trim().split(/\s+/)[0] ?? '', 10);
  return Number.isInteger(start) && start > lowestPort + 1000 ? start : 32_768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 that nothing listens on, chosen at random BELOW the kernel's ephemeral
 * range. A port the kernel handed out (listen(0)) sits in that range, where any outgoing
 * connection can take it while a test has the service on it stopped — including a client
 * retrying against the stopped service, which Linux can connect to itself. Then the restart fails
 * to bind. Ports below the range are never taken that way.
 */
export async function freePort(): Promise<number> {
  const end = await ephemeralRangeStart();
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = randomInt(lowestPort, end);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${lowestPort} and ${end}`);
}

/**
 * A free port whose next `following` ports are free too: a cluster of several nodes on
 * consecutive ports (the private Kafka and Qdrant clusters of the scale-out tests).
 */
export async function freePortRun(following: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    const rest = await Promise.all(Array.from({ length: following }, (_, i) => canListen(base + i + 1)));
    if (rest.every(Boolean)) return base;
  }
}
