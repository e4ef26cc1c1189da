/**
 * Intake outcomes are the write model's (`commands/src/intake/intakeOutcomes.ts`). This name
 * stays only for `routes/intakeRoutes.ts` and its test, whose imports move with the route work
 * of issue #16; nothing else imports it.
 */
export {
  readIntakeOutcome,
  recordAccepted,
  recordRejected,
  type IntakeOutcome,
} from '@deeplens/commands/intake/intakeOutcomes';
