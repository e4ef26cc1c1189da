/**
 * Generated from write-api/src/openApi.ts by client/src/generateTypes.ts: do not edit.
 * Regenerate with `npm run generate -w @deeplens/client`.
 */
export interface paths {
  '/healthz': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Liveness: the process answers */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Alive */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** @enum {string} */
              status: 'ok';
            };
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/readyz': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Readiness: the database answers */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Ready */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** @enum {string} */
              status: 'ready';
            };
          };
        };
        503: components['responses']['ServiceUnavailable'];
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/metrics': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Prometheus metrics, with `Authorization: Bearer <METRICS_TOKEN>` (404 without it) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Metrics */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'text/plain': string;
          };
        };
        404: components['responses']['Problem'];
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/openapi.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** This document */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OpenAPI 3.1 */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              openapi: string;
            } & {
              [key: string]: unknown;
            };
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/token': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Sign in with a password or exchange an API key for an access token */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json':
            | {
                /** @enum {string} */
                grant_type: 'password';
                /** Format: email */
                email: string;
                password: string;
              }
            | {
                /** @enum {string} */
                grant_type: 'api_key';
                api_key: string;
              };
        };
      };
      responses: {
        /** @description Tokens */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Tokens'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/refresh': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Rotate a refresh token (reuse revokes the whole session) */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            refresh_token: string;
          };
        };
      };
      responses: {
        /** @description Tokens */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Tokens'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/logout': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** End a session */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            refresh_token: string;
          };
        };
      };
      responses: {
        /** @description Signed out */
        204: {
          headers: {
            [name: string]: unknown;
          };
          content?: never;
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/.well-known/jwks.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Public keys that verify access tokens */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description JWKS */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Jwks'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/users': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Create a user (platform admin: any; tenant admin: own tenant) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            /** Format: email */
            email: string;
            password: string;
            /** @enum {string} */
            role: 'platform_admin' | 'tenant_admin' | 'tenant_user';
            /** Format: uuid */
            tenantId?: string | null;
          };
        };
      };
      responses: {
        /** @description Created */
        201: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['User'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}/api-keys': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Issue an API key; the secret is shown once */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            /** @default  */
            name?: string;
            scopes: ('images:read' | 'images:write' | 'search')[];
            /** Format: date-time */
            expiresAt?: string;
          };
        };
      };
      responses: {
        /** @description Issued */
        201: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['IssuedApiKey'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}/api-keys/{keyId}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    /** Revoke an API key */
    delete: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
          keyId: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Revoked */
        204: {
          headers: {
            [name: string]: unknown;
          };
          content?: never;
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/users/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    /** Disable and erase a user (platform admin: any; tenant admin: own tenant): their data key is destroyed, so their e-mail and password hash in the log read as erased */
    delete: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Erased */
        204: {
          headers: {
            [name: string]: unknown;
          };
          content?: never;
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Provision a tenant (platform admin) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            slug: string;
            name: string;
            /**
             * @default free
             * @enum {string}
             */
            plan?: 'free' | 'pro' | 'enterprise';
            limits?: components['schemas']['Limits'];
            /** @enum {string} */
            isolation?: 'shared' | 'dedicated';
            /** @description With isolation `dedicated`: the configured database server (a key of TENANT_DATABASE_URLS; `default`: DATABASE_URL's) */
            databaseTarget?: string;
          };
        };
      };
      responses: {
        /** @description Provisioned */
        201: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Tenant'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** A tenant */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Tenant */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Tenant'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    put?: never;
    post?: never;
    /** Erase a tenant: its images, vectors, objects and keys */
    delete: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Erasure accepted */
        202: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** Format: uuid */
              id: string;
              /** @enum {string} */
              status: 'deleted';
              erasure: string;
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    options?: never;
    head?: never;
    /** Change plan, suspend or reactivate */
    patch: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            name?: string;
            /** @enum {string} */
            plan?: 'free' | 'pro' | 'enterprise';
            limits?: components['schemas']['Limits'];
            /** @enum {string} */
            status?: 'active' | 'suspended';
            reason?: string;
            /** @enum {string} */
            isolation?: 'shared' | 'dedicated';
            /** @description With isolation `dedicated`: the configured database server (a key of TENANT_DATABASE_URLS; `default`: DATABASE_URL's) */
            databaseTarget?: string;
          };
        };
      };
      responses: {
        /** @description Tenant */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Tenant'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    trace?: never;
  };
  '/v1/tenants/{id}/storage': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    /** Bring your own storage: S3, Azure Blob or a folder (the secret is encrypted at rest and never returned) */
    put: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json':
            | {
                /** @enum {string} */
                kind: 's3';
                /** Format: uri */
                endpoint: string;
                bucket: string;
                /** @default us-east-1 */
                region?: string;
                /** @default  */
                prefix?: string;
                accessKeyId: string;
                secretAccessKey: string;
              }
            | {
                /** @enum {string} */
                kind: 'azure';
                account?: string;
                /** Format: uri */
                endpoint?: string;
                container: string;
                /** @default  */
                prefix?: string;
                sharedKey?: string;
                sasToken?: string;
              }
            | {
                /** @enum {string} */
                kind: 'path';
                path: string;
                /** @default  */
                prefix?: string;
              };
        };
      };
      responses: {
        /** @description Storage, without its secret */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['TenantStorage'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}/storage/move': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The tenant's last storage move and its progress */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description The move */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['StorageMove'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    put?: never;
    /** Move the tenant's objects to another storage without downtime: uploads go there at once, the rest is copied and verified by sha256 in the background (docs/storage-moves.md) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json':
            | {
                /** @enum {string} */
                kind: 'platform';
              }
            | (
                | {
                    /** @enum {string} */
                    kind: 's3';
                    /** Format: uri */
                    endpoint: string;
                    bucket: string;
                    /** @default us-east-1 */
                    region?: string;
                    /** @default  */
                    prefix?: string;
                    accessKeyId: string;
                    secretAccessKey: string;
                  }
                | {
                    /** @enum {string} */
                    kind: 'azure';
                    account?: string;
                    /** Format: uri */
                    endpoint?: string;
                    container: string;
                    /** @default  */
                    prefix?: string;
                    sharedKey?: string;
                    sasToken?: string;
                  }
                | {
                    /** @enum {string} */
                    kind: 'path';
                    path: string;
                    /** @default  */
                    prefix?: string;
                  }
              );
        };
      };
      responses: {
        /** @description The move started */
        202: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['StorageMove'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}/intake-keys': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Register an integration's Ed25519 public key; intake records it signs act for the tenant
     * @description Tenant admins (or platform admins). Give the public key as SPKI PEM or as a JWK (kty OKP, crv Ed25519); a private key is refused. Only the public key is kept and published. See docs/integrations.md.
     */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            /** @default  */
            name?: string;
            /** @description SPKI PEM ("-----BEGIN PUBLIC KEY-----") */
            publicKey?: string;
            /** @description Or a JWK: { kty: "OKP", crv: "Ed25519", x } */
            jwk?: {
              /** @enum {string} */
              kty: 'OKP';
              /** @enum {string} */
              crv: 'Ed25519';
              x: string;
            } & {
              [key: string]: unknown;
            };
          };
        };
      };
      responses: {
        /** @description Registered: put id in the deeplens-key-id header of every record it signs */
        201: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['IntakeKey'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tenants/{id}/intake-keys/{keyId}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    /** Revoke an intake key: records it signs are refused from now on */
    delete: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
          keyId: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Revoked */
        204: {
          headers: {
            [name: string]: unknown;
          };
          content?: never;
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/uploads': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Store one image for an intake record to register (expires after 24 h if never registered) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'multipart/form-data': {
            /** Format: binary */
            file: string;
          };
        };
      };
      responses: {
        /** @description Stored in the tenant's storage: name objectKey (and these values) in RegisterImage */
        201: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['StoredUpload'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/uploads/presigned': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** A presigned S3 PUT URL for one image's bytes, where the tenant's storage is S3 (409 on a filesystem store) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            sha256: string;
            /** @enum {string} */
            mime: 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif' | 'image/avif' | 'image/tiff';
            bytes: number;
          };
        };
      };
      responses: {
        /** @description PUT the bytes to url before urlExpiresAt; register objectKey before expiresAt */
        201: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['PresignedUpload'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/intake/{requestId}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The outcome of one of the tenant's intake records: pending, accepted (with the image id) or rejected */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          requestId: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description The outcome */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['IntakeOutcome'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/images': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Upload one or many images (202: accepted; embedding follows) */
    post: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'multipart/form-data': {
            file: string[];
            /** @description JSON array or comma-separated list */
            tags?: string;
            /** @description JSON object of string values */
            attributes?: string;
          };
        };
      };
      responses: {
        /** @description Accepted */
        202: {
          headers: {
            /** @description Where what the command created can be read */
            Location: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['AcceptedImages'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/images/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    /** Delete an image */
    delete: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Deletion accepted */
        202: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** Format: uuid */
              id: string;
              /** @enum {string} */
              status: 'deleted';
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    options?: never;
    head?: never;
    /** Replace tags and/or attributes */
    patch: {
      parameters: {
        query?: never;
        header?: {
          /** @description A retry with the same key gets the first answer. */
          'Idempotency-Key'?: components['parameters']['IdempotencyKey'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            tags?: string[];
            attributes?: {
              [key: string]: string;
            };
          };
        };
      };
      responses: {
        /** @description Updated */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** Format: uuid */
              id: string;
              tags: string[];
              attributes: {
                [key: string]: string;
              };
              version: number;
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        409: components['responses']['Problem'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        503: components['responses']['ServiceUnavailable'];
      };
    };
    trace?: never;
  };
}
export type webhooks = Record<string, never>;
export interface components {
  schemas: {
    Problem: {
      /** @description `urn:deeplens:problem:<code>` */
      type: string;
      title: string;
      status: number;
      detail?: string;
      instance?: string;
      /** @description Our reason code, stable across releases */
      code: string;
      /** @description Whether the same request may succeed later */
      retriable?: boolean;
      /** @description The `X-Request-Id` of the request */
      requestId?: string;
      /** @description With 429 and 503: also sent as `Retry-After` */
      retryAfterSeconds?: number;
    };
    IdempotencyKey: string;
    Tokens: {
      access_token: string;
      /** @enum {string} */
      token_type: 'Bearer';
      /** @description Seconds the access token is valid for */
      expires_in: number;
      /** @description Only for a password sign-in; an API key simply signs in again */
      refresh_token?: string;
    };
    Jwks: {
      keys: ({
        kty: string;
        kid: string;
        alg: string;
      } & {
        [key: string]: unknown;
      })[];
    };
    User: {
      /** Format: uuid */
      id: string;
      email: string;
      /** @enum {string} */
      role: 'platform_admin' | 'tenant_admin' | 'tenant_user';
      /** Format: uuid */
      tenantId: string | null;
    };
    IssuedApiKey: {
      /** Format: uuid */
      id: string;
      name: string;
      prefix: string;
      /** @description The whole key: shown once, never retrievable again */
      secret: string;
      scopes: ('images:read' | 'images:write' | 'search')[];
      /** Format: date-time */
      expiresAt: string | null;
    };
    Tenant: {
      /** Format: uuid */
      id: string;
      slug: string;
      name: string;
      /** @enum {string} */
      plan: 'free' | 'pro' | 'enterprise';
      limits: components['schemas']['Limits'];
      /** @enum {string} */
      status: 'active' | 'suspended';
      suspendedReason?: string;
      /** @enum {string} */
      isolation: 'shared' | 'dedicated';
      databaseTarget?: string;
      /** @description Its own storage; null: the platform’s */
      storage: components['schemas']['TenantStorage'] | null;
      version: number;
    };
    /** @description The plan's limits, when they differ from its defaults */
    Limits: {
      maxImages: number;
      maxBytes: number;
      maxImageBytes: number;
      requestsPerMinute: number;
    };
    TenantStorage:
      | {
          /** @enum {string} */
          kind: 's3';
          endpoint: string;
          bucket: string;
          region: string;
          prefix: string;
          accessKeyId: string;
        }
      | {
          /** @enum {string} */
          kind: 'azure';
          endpoint: string;
          account: string;
          container: string;
          prefix: string;
          /** @enum {string} */
          credential: 'sharedKey' | 'sasToken';
        }
      | {
          /** @enum {string} */
          kind: 'path';
          path: string;
          prefix: string;
        };
    StorageMove: {
      /** Format: uuid */
      moveId: string;
      /** @enum {string} */
      status: 'copying' | 'verified' | 'completed' | 'failed';
      /** @description The source, without credentials */
      from: string;
      /** @description The target, without credentials */
      to: string;
      /** @description Objects copied and verified so far (all of them once verified) */
      objects: number;
      bytes: number;
      /** @description Objects of the tenant's images and thumbnails now */
      totalObjects: number;
      /** Format: date-time */
      startedAt: string;
      /** Format: date-time */
      finishedAt: string | null;
      /** @description Why the move failed */
      reason?: string;
    };
    IntakeKey: {
      /** Format: uuid */
      id: string;
      /** Format: uuid */
      tenantId: string;
      name: string;
      /** @enum {string} */
      algorithm: 'Ed25519';
      /** @description SPKI PEM */
      publicKey: string;
      /** @description What every intake record signed with this key carries */
      headers: {
        [key: string]: string;
      };
    };
    StoredUpload: {
      objectKey: string;
      sha256: string;
      /** @enum {string} */
      mime: 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif' | 'image/avif' | 'image/tiff';
      bytes: number;
      width: number;
      height: number;
      /** Format: date-time */
      expiresAt: string;
    };
    PresignedUpload: {
      objectKey: string;
      /** @enum {string} */
      method: 'PUT';
      /** Format: uri */
      url: string;
      /** Format: date-time */
      urlExpiresAt: string;
      /** Format: date-time */
      expiresAt: string;
    };
    IntakeOutcome:
      | {
          requestId: string;
          /** @enum {string} */
          status: 'pending';
        }
      | {
          requestId: string;
          /** @enum {string} */
          status: 'accepted';
          command: string;
          imageId: string | null;
          /** Format: date-time */
          updatedAt: string;
        }
      | {
          requestId: string;
          /** @enum {string} */
          status: 'rejected';
          code: string;
          reason: string;
          /** Format: date-time */
          updatedAt: string;
        };
    AcceptedImages: {
      images: {
        /** Format: uuid */
        id: string;
        /** @enum {string} */
        status: 'uploaded';
        filename: string;
        /** @enum {string} */
        mime: 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif' | 'image/avif' | 'image/tiff';
        bytes: number;
        width: number;
        height: number;
        sha256: string;
        tags: string[];
        attributes: {
          [key: string]: string;
        };
        location: string;
      }[];
    };
  };
  responses: {
    /** @description RFC 9457 problem details */
    Problem: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': components['schemas']['Problem'];
      };
    };
    /** @description The body is larger than the route accepts, refused before it is parsed: 16 KiB on `/v1/auth/*`, 1 MiB for JSON, MAX_REQUEST_BYTES for multipart; an uploaded file over the plan’s image size */
    ContentTooLarge: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': components['schemas']['Problem'];
      };
    };
    /** @description The request (headers and body) did not arrive within HTTP_REQUEST_TIMEOUT_SECONDS; the server answers without a body and closes the connection */
    RequestTimeout: {
      headers: {
        [name: string]: unknown;
      };
      content?: never;
    };
    /** @description The tenant’s request units for this window are spent (or, on sign-in, too many attempts from this address or for this account); retry after `Retry-After` seconds */
    TooManyRequests: {
      headers: {
        'Retry-After': components['headers']['Retry-After'];
        'RateLimit-Limit': components['headers']['RateLimit-Limit'];
        'RateLimit-Remaining': components['headers']['RateLimit-Remaining'];
        'RateLimit-Reset': components['headers']['RateLimit-Reset'];
        'RateLimit-Policy': components['headers']['RateLimit-Policy'];
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': components['schemas']['Problem'];
      };
    };
    /** @description The tenant’s object storage answered, but not as S3 does, or refused DeepLens (credentials, access): retrying will not help until its settings are fixed (code `storage_error`) */
    BadGateway: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': components['schemas']['Problem'];
      };
    };
    /** @description A dependency is unreachable or busy (object storage, database, Kafka), or the read model is being rebuilt from the log; retry after `Retry-After` seconds */
    ServiceUnavailable: {
      headers: {
        'Retry-After': components['headers']['Retry-After'];
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': components['schemas']['Problem'];
      };
    };
  };
  parameters: {
    /** @description A retry with the same key gets the first answer. */
    IdempotencyKey: components['schemas']['IdempotencyKey'];
  };
  requestBodies: never;
  headers: {
    /** @description Seconds to wait before retrying (RFC 9110) */
    'Retry-After': number;
    /** @description Request units the tenant’s plan allows per window (IETF draft-ietf-httpapi-ratelimit-headers); a search by upload or a duplicate scan costs more than one */
    'RateLimit-Limit': number;
    /** @description Request units left in the current window */
    'RateLimit-Remaining': number;
    /** @description Seconds until units are available again */
    'RateLimit-Reset': number;
    /** @description The quota policy: `<limit>;w=<window seconds>`, e.g. `600;w=60` */
    'RateLimit-Policy': string;
  };
  pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
