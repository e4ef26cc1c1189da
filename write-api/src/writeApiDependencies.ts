import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { RefreshTokenStore } from '@deeplens/commands/identity/refreshTokens';
import type { TokenIssuer, TokenVerifier } from '@deeplens/platform/auth/accessTokens';
import type { CredentialCache } from '@deeplens/platform/auth/credentialCache';
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
  /**
   * API keys, token standing and tenant state as authentication reads them, remembered until the
   * write model announces a change (`createCredentialCache`); without it every request reads them.
   */
  credentials?: CredentialCache;
  log: Logger;
  clock: () => number;
};
