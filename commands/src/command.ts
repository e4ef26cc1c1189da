import type { CommandContext } from './commandContext.ts';

/** A command: an imperative request a decider accepts (emitting events) or refuses (throwing). */
export type Command<Type extends string, Data> = Readonly<{
  type: Type;
  data: Data;
  metadata: CommandContext;
}>;
