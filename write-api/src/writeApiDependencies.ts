import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { TokenIssuer, TokenVerifier } from '@deeplens/platform/auth/accessTokens';
import type { RefreshTokenStore } from '@deeplens/platform/auth/refreshTokens';
import type { SignInThrottle } from '@deeplens/platform/auth/signInThrottle';
import type { Config } from '@deeplens/platform/config';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import type { ObjectStore } from '@deeplens/platform/objectStore';
import type { SecretBox } from '@deeplens/platform/secrets';

/** Everything the write API needs, built by its composition root (`main.ts`) or a test. */
export type WriteApiDependencies = {
  config: Config;
  pool: DatabasePool;
  handler: CommandHandler;
  objects: ObjectStore;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  refreshTokens: RefreshTokenStore;
  /** Throttles sign-in attempts per (account, address) and per address, across processes. */
  signInThrottle: SignInThrottle;
  secrets: SecretBox;
  log: Logger;
  clock: () => number;
};
