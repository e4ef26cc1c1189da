import assert from 'node:assert/strict';
import type { Decider } from '../decider.ts';

/** Any error class, e.g. `ConflictError`. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * `given(events).when(command).then(expectedEvents | ErrorClass)`: folds the given events into
 * a state with `evolve`, runs `decide`, and checks the events it returns or the error it throws
 * (optionally its message against `message`). Also checks the state is plain JSON data.
 */
export function deciderSpec<State, Command, Event>(
  decider: Pick<Decider<State, Command, Event>, 'decide' | 'evolve' | 'initialState'>,
) {
  return {
    given: (events: readonly Event[]) => ({
      when: (command: Command) => ({
        then: (expected: readonly Event[] | ErrorClass, message?: RegExp): void => {
          const state = events.reduce(decider.evolve, decider.initialState());
          // The write model stores states as JSON, so they must survive it unchanged.
          assert.deepStrictEqual(JSON.parse(JSON.stringify(state)), state, 'state is plain JSON data');
          if (Array.isArray(expected)) {
            assert.deepStrictEqual(decider.decide(command, state), expected);
            return;
          }
          const errorClass = expected as ErrorClass;
          assert.throws(
            () => decider.decide(command, state),
            (error: unknown) => {
              assert.ok(
                error instanceof errorClass,
                `expected ${errorClass.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
              );
              if (message) assert.match(error.message, message);
              return true;
            },
          );
        },
      }),
    }),
  };
}
