/**
 * Generated from write-api/src/openApi.ts by client/src/generateTypes.ts: do not edit.
 * Regenerate with `npm run generate -w @deeplens/client`.
 */
export interface paths {
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
      requestBody?: {
        content: {
          'application/json':
            | {
                /** @constant */
                grant_type: 'password';
                email: string;
                password: string;
              }
            | {
                /** @constant */
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
      requestBody?: {
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
      requestBody?: {
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
          content?: never;
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
      requestBody?: {
        content: {
          'application/json': {
            email: string;
            password: string;
            /** @enum {unknown} */
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
  '/v1/users/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
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
      requestBody?: {
        content: {
          'application/json': {
            slug: string;
            name: string;
            /** @enum {unknown} */
            plan?: 'free' | 'pro' | 'enterprise';
            limits?: components['schemas']['Limits'];
            /** @enum {unknown} */
            isolation?: 'shared' | 'dedicated';
            databaseTarget?: string;
          };
        };
      };
      responses: {
        /** @description Provisioned */
        201: {
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
      path: {
        id: string;
      };
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
      requestBody?: {
        content: {
          'application/json': {
            /** @enum {unknown} */
            plan?: 'free' | 'pro' | 'enterprise';
            limits?: components['schemas']['Limits'];
            /** @enum {unknown} */
            status?: 'active' | 'suspended';
            reason?: string;
            /** @enum {unknown} */
            isolation?: 'shared' | 'dedicated';
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
      path: {
        id: string;
      };
      cookie?: never;
    };
    get?: never;
    /** Bring your own S3 storage (the secret is encrypted at rest and never returned) */
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
      requestBody?: {
        content: {
          'application/json': {
            endpoint: string;
            bucket: string;
            region?: string;
            prefix?: string;
            accessKeyId: string;
            secretAccessKey: string;
          };
        };
      };
      responses: {
        /** @description Storage, without its secret */
        200: {
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
      path: {
        id: string;
      };
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
      requestBody?: {
        content: {
          'application/json':
            | {
                /** @constant */
                kind: 'platform';
              }
            | {
                /** @enum {unknown} */
                kind?: 's3' | 'azure' | 'path';
                endpoint?: string;
                bucket?: string;
                region?: string;
                prefix?: string;
                accessKeyId?: string;
                secretAccessKey?: string;
                account?: string;
                container?: string;
                sharedKey?: string;
                sasToken?: string;
                path?: string;
              };
        };
      };
      responses: {
        /** @description The move started */
        202: {
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
      path: {
        id: string;
      };
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
      requestBody?: {
        content: {
          'application/json': {
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
      path: {
        id: string;
        keyId: string;
      };
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
  '/v1/tenants/{id}/intake-keys': {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
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
      requestBody?: {
        content: {
          'application/json': {
            name?: string;
            /** @description SPKI PEM */
            publicKey?: string;
            jwk?: {
              /** @constant */
              kty: 'OKP';
              /** @constant */
              crv: 'Ed25519';
              x: string;
            };
          };
        };
      };
      responses: {
        /** @description Registered: put id in the deeplens-key-id header of every record it signs */
        201: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': {
              /** Format: uuid */
              id: string;
              /** Format: uuid */
              tenantId: string;
              name: string;
              /** @constant */
              algorithm: 'Ed25519';
              publicKey: string;
              headers?: {
                [key: string]: string;
              };
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
      path: {
        id: string;
        keyId: string;
      };
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
      requestBody?: {
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
            'application/json': {
              objectKey: string;
              sha256: string;
              mime: string;
              bytes: number;
              width: number;
              height: number;
              /** Format: date-time */
              expiresAt: string;
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
      requestBody?: {
        content: {
          'application/json': {
            sha256: string;
            /** @enum {unknown} */
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
            'application/json': {
              objectKey: string;
              /** @constant */
              method: 'PUT';
              /** Format: uri */
              url: string;
              /** Format: date-time */
              urlExpiresAt: string;
              /** Format: date-time */
              expiresAt: string;
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
      path: {
        requestId: string;
      };
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
            'application/json': {
              requestId: string;
              /** @enum {unknown} */
              status: 'pending' | 'accepted' | 'rejected';
              command?: string;
              imageId?: string | null;
              code?: string;
              reason?: string;
              /** Format: date-time */
              updatedAt?: string;
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
      requestBody?: {
        content: {
          'multipart/form-data': {
            file?: string[];
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
      path: {
        id: string;
      };
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
      requestBody?: {
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
    StorageMove: {
      /** Format: uuid */
      moveId: string;
      /** @enum {unknown} */
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
    Tokens: {
      access_token?: string;
      /** @constant */
      token_type?: 'Bearer';
      expires_in?: number;
      refresh_token?: string;
    };
    Limits: {
      maxImages?: number;
      maxBytes?: number;
      maxImageBytes?: number;
      requestsPerMinute?: number;
    };
    Tenant: {
      /** Format: uuid */
      id?: string;
      slug?: string;
      name?: string;
      plan?: string;
      status?: string;
      limits?: components['schemas']['Limits'];
      /** @enum {unknown} */
      isolation?: 'shared' | 'dedicated';
      databaseTarget?: string;
      version?: number;
    };
    IssuedApiKey: {
      id?: string;
      prefix?: string;
      secret?: string;
      scopes?: string[];
      expiresAt?: string | null;
    };
    AcceptedImages: {
      images?: {
        /** Format: uuid */
        id?: string;
        /** @constant */
        status?: 'uploaded';
        filename?: string;
        sha256?: string;
        location?: string;
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
    IdempotencyKey: string;
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
