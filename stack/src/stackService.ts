/** One service of the local stack: fetched once into the cache, started detached, health-checked. */
export interface StackService {
  name: string;
  version: string;
  /** Where clients reach it, for `status`. */
  address: string;
  logFile: string;
  /** Fetches and prepares what the service needs (idempotent; a no-op when cached). */
  install(): Promise<void>;
  /** Starts the process; called only when it is not already running. */
  start(): Promise<void>;
  /** The pid of our running process, if any. */
  pid(): number | undefined;
  /** Answers real requests (not just an open port). */
  isHealthy(): Promise<boolean>;
  /** Set-up that needs the running service (e.g. global rules); idempotent. */
  afterHealthy?(): Promise<void>;
  stop(): Promise<boolean>;
  /**
   * Whether the rest of the stack comes up without it: an optional service that cannot be
   * installed is reported and skipped (unless the configuration needs it).
   */
  optional?: boolean;
  /**
   * A second server at the same address would damage this one's data (two Kafka brokers on one
   * metadata log): `up` refuses to start it when something that is not its own process answers
   * there (another checkout's stack). Others may share what already answers (a private test
   * stack uses the default stack's Azurite).
   */
  exclusive?: boolean;
  /** Seconds `up` waits for health before giving up. */
  startTimeoutSeconds: number;
}
