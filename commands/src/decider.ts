/**
 * An aggregate's pure decision logic, as the command handler consumes it: rebuild or load the
 * state, `decide`, append the events (whose `aggregateVersion` continues `state.version`).
 * States are plain JSON-serialisable data, so the write model can store them as they are.
 */
export type Decider<State, Command, Event> = {
  /** The write model's name for the aggregate, e.g. `tenant`. */
  aggregateType: string;
  /** The stream a command addresses (the aggregate id, also the Kafka key). */
  aggregateIdOf: (command: Command) => string;
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  /** Events to append (none when the command changes nothing); throws a `DeepLensError` to refuse. */
  decide: (command: Command, state: State) => Event[];
};
