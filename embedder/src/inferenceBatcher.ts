/**
 * Gathers inputs from independent callers (the images of several Kafka partitions and fetches)
 * into batches for one model, and runs one batch at a time. A caller takes a seat before it
 * prepares its input (fetching, decoding); at most `maxSeats` inputs are being prepared or wait
 * for a batch, which bounds the memory of images in flight. A batch runs when it is full, when
 * every seated input has arrived, or when no input arrived for `maxWaitMs`.
 */
export type InferenceBatcherOptions<In, Out> = {
  maxBatchSize: number;
  /** At least `maxBatchSize`. */
  maxSeats: number;
  maxWaitMs: number;
  /** One output per input, in order. */
  run: (inputs: In[]) => Promise<Out[]>;
};

export type Seat<In, Out> = {
  /** Queues the input; resolves with its output and the size of the batch it ran in. */
  embed(input: In): Promise<{ output: Out; batchSize: number }>;
  /** Gives the seat up without an input (the image failed before); harmless after `embed`. */
  release(): void;
};

export function createInferenceBatcher<In, Out>({
  maxBatchSize,
  maxSeats,
  maxWaitMs,
  run,
}: InferenceBatcherOptions<In, Out>) {
  if (maxSeats < maxBatchSize) throw new Error(`maxSeats ${maxSeats} < maxBatchSize ${maxBatchSize}`);
  type Waiting = {
    input: In;
    resolve: (value: { output: Out; batchSize: number }) => void;
    reject: (error: unknown) => void;
  };
  const waiting: Waiting[] = [];
  /** Seats taken whose input has not arrived yet. */
  let preparing = 0;
  const queuedForSeats: (() => void)[] = [];
  let running = false;
  let timer: NodeJS.Timeout | undefined;

  function seatsFree(): boolean {
    return preparing + waiting.length < maxSeats;
  }

  function admit(): void {
    while (queuedForSeats.length > 0 && seatsFree()) {
      preparing++;
      queuedForSeats.shift()!();
    }
  }

  function maybeRun(): void {
    if (running || waiting.length === 0) return;
    if (waiting.length < maxBatchSize && preparing > 0) {
      // Inputs on their way arrive one by one while their images decode; only a pause of
      // `maxWaitMs` (a slow fetch) lets a partial batch go.
      clearTimeout(timer);
      // After the timer, inputs whose decoding finished meanwhile (while the event loop was
      // busy) are taken in first.
      timer = setTimeout(() => {
        timer = undefined;
        setImmediate(runBatch);
      }, maxWaitMs);
      return;
    }
    runBatch();
  }

  function runBatch(): void {
    if (running || waiting.length === 0) return;
    clearTimeout(timer);
    timer = undefined;
    running = true;
    const batch = waiting.splice(0, maxBatchSize);
    admit();
    Promise.resolve()
      .then(() => run(batch.map((w) => w.input)))
      .then((outputs) => {
        if (outputs.length !== batch.length) {
          throw new Error(`the model returned ${outputs.length} outputs for ${batch.length} inputs`);
        }
        batch.forEach((w, i) => w.resolve({ output: outputs[i]!, batchSize: batch.length }));
      })
      .catch((error: unknown) => batch.forEach((w) => w.reject(error)))
      .finally(() => {
        running = false;
        maybeRun();
      });
  }

  function seat(): Seat<In, Out> {
    let open = true;
    const leave = () => {
      if (!open) return false;
      open = false;
      preparing--;
      return true;
    };
    return {
      embed(input) {
        if (!leave()) return Promise.reject(new Error('this seat was already used'));
        return new Promise((resolve, reject) => {
          waiting.push({ input, resolve, reject });
          maybeRun();
        });
      },
      release() {
        if (!leave()) return;
        admit();
        maybeRun();
      },
    };
  }

  return {
    /** Waits for a free seat (first come, first served). */
    async reserve(): Promise<Seat<In, Out>> {
      if (queuedForSeats.length === 0 && seatsFree()) preparing++;
      else await new Promise<void>((resolve) => queuedForSeats.push(resolve));
      return seat();
    },
  };
}

export type InferenceBatcher<In, Out> = ReturnType<typeof createInferenceBatcher<In, Out>>;
