/**
 * Generated from read-api/src/openApi.ts by client/src/generateTypes.ts: do not edit.
 * Regenerate with `npm run generate -w @deeplens/client`.
 */
export interface paths {
  '/v1/search': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Search the caller’s images by a query image, an image id or a vector */
    post: {
      parameters: {
        query?: {
          /** @description modelId@version of a search by upload (a multipart `model` field says the same) */
          model?: string;
        };
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': {
            /** Format: uuid */
            imageId?: string;
            vector?: number[];
            /** @default 10 */
            k?: number;
            /** @description lowest cosine similarity of a hit */
            threshold?: number;
            filter?: components['schemas']['Filter'];
            /** @description modelId@version; the embedder’s model when absent */
            model?: string;
            /**
             * @description geometric: the top candidates of a search by image or id are verified with local features and a verified one is ranked first; none: the descriptor and perceptual hash alone
             * @default geometric
             * @enum {string}
             */
            rerank?: 'geometric' | 'none';
          };
          'multipart/form-data': {
            /** Format: binary */
            file: string;
            /** @default 10 */
            k?: number;
            /** @description lowest cosine similarity of a hit */
            threshold?: number;
            /** @description modelId@version; the embedder’s model when absent */
            model?: string;
            /**
             * @description geometric: the top candidates of a search by image or id are verified with local features and a verified one is ranked first; none: the descriptor and perceptual hash alone
             * @default geometric
             * @enum {string}
             */
            rerank?: 'geometric' | 'none';
            /** @description JSON of Filter */
            filter?: string;
          };
        };
      };
      responses: {
        /** @description Ranked hits */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['SearchResult'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
  '/v1/images/{id}/similar': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Images similar to this one */
    get: {
      parameters: {
        query?: {
          k?: number;
          /** @description lowest cosine similarity of a hit */
          threshold?: number;
          /** @description modelId@version; the embedder’s model when absent */
          model?: string;
          /** @description geometric: the top candidates of a search by image or id are verified with local features and a verified one is ranked first; none: the descriptor and perceptual hash alone */
          rerank?: 'geometric' | 'none';
          /** @description only hits with this tag (repeat for all of several) */
          tag?: string | string[];
        };
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Ranked hits */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['SearchResult'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
  '/v1/duplicates': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Groups of near-duplicate images
     * @description Scans the tenant's most recent `limit` indexed images; each image's 10 nearest neighbours join its group when the pair passes `match`. `verified` (default): geometric verification with the stored local features confirms the pair (≥ 15 inliers, as search), or its descriptor similarity is ≥ `threshold` (a mirrored copy does not verify); `descriptor`: the descriptor similarity alone, ≥ `threshold`. `threshold` defaults to the embedding space's measured value (0.90 for descriptor v2, 0.95 for v1). Cost per scanned image: one vector query, at most one metadata read and 10 verifications (each a few milliseconds of CPU).
     */
    get: {
      parameters: {
        query?: {
          match?: 'verified' | 'descriptor';
          threshold?: number;
          limit?: number;
        };
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Groups */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['DuplicateGroups'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
    /** List the caller’s images (cursor pagination) */
    get: {
      parameters: {
        query?: {
          /** @description the previous page’s nextCursor */
          cursor?: string;
          limit?: number;
          tag?: string;
          status?: 'uploaded' | 'embedded' | 'indexed' | 'failed';
        };
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description A page */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ImagePage'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
  '/v1/images/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** An image: status (uploaded → embedded → indexed, or failed with a reason) and metadata */
    get: {
      parameters: {
        query?: never;
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Image */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Image'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
  '/v1/images/{id}/thumbnail': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The WebP thumbnail */
    get: {
      parameters: {
        query?: never;
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description image/webp */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'image/webp': string;
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
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
  '/v1/images/{id}/content': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The original bytes */
    get: {
      parameters: {
        query?: never;
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description The image */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'image/*': string;
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
        413: components['responses']['ContentTooLarge'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['TooManyRequests'];
        502: components['responses']['BadGateway'];
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
  '/v1/tenants/{id}/usage': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Images and bytes stored, with the plan’s limits */
    get: {
      parameters: {
        query?: never;
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Usage */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Usage'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
  '/v1/images/{id}/history': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Every event of an image in log order: who, when, the correlation id and what changed
     * @description Served from the history projection. A deleted image keeps its history until its tenant is erased; another tenant’s image answers 404 as an unknown one does. Costs one request unit, like a listing.
     */
    get: {
      parameters: {
        query?: {
          /** @description the previous page’s nextCursor */
          cursor?: string;
          limit?: number;
        };
        header?: {
          /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
          'DeepLens-Generation'?: components['parameters']['GenerationHeader'];
          /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
          'DeepLens-Tenant'?: components['parameters']['TenantHeader'];
        };
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description A page of the history */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ImageHistoryPage'];
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        408: components['responses']['RequestTimeout'];
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
    GenerationHeader: string;
    /** Format: uuid */
    TenantHeader: string;
    SearchResult: {
      model: {
        modelId: string;
        modelVersion: string;
      };
      hits: components['schemas']['Hit'][];
      /** @description milliseconds the search took in the read API (POST /v1/search only) */
      tookMs?: number;
    };
    Hit: {
      /** Format: uuid */
      imageId: string;
      score: number;
      filename: string;
      tags: string[];
      attributes: {
        [key: string]: string;
      };
      thumbnailUrl: string | null;
      contentUrl: string;
      /**
       * @description geometric: its local features verified it as the same picture as the query (most inliers first); perceptual-hash: its perceptual hash matched the query image (an edited copy), so it was ranked first; descriptor: ranked by similarity alone
       * @enum {string}
       */
      rankedBy: 'geometric' | 'perceptual-hash' | 'descriptor';
      /** @description geometric verification found the same picture (a crop, frame, overlay or re-encoding of it) */
      verified: boolean;
      /** @description keypoint matches one similarity transform explains; 0 when not compared */
      inliers: number;
    };
    Filter: {
      tags?: string[];
      attributes?: {
        [key: string]: string;
      };
    };
    DuplicateGroups: {
      /** @enum {string} */
      match: 'verified' | 'descriptor';
      /** @description the threshold applied */
      threshold: number;
      /** @description images scanned */
      scanned: number;
      groups: {
        images: {
          /** Format: uuid */
          imageId: string;
          filename: string;
        }[];
      }[];
    };
    ImagePage: {
      items: components['schemas']['Image'][];
      nextCursor: string | null;
    };
    Image: {
      /** Format: uuid */
      id: string;
      /**
       * @description uploaded → embedded → indexed, or failed with a reason
       * @enum {string}
       */
      status: 'uploaded' | 'embedded' | 'indexed' | 'failed';
      failure: {
        reason: string;
        retriable: boolean;
      } | null;
      filename: string;
      mime: string;
      bytes: number;
      width: number;
      height: number;
      sha256: string;
      tags: string[];
      attributes: {
        [key: string]: string;
      };
      thumbnailUrl: string | null;
      contentUrl: string;
      embeddings: {
        /** @description modelId@version */
        model: string;
        dim: number;
        /** @description whether the vector index holds it */
        indexed: boolean;
      }[];
      /** Format: date-time */
      uploadedAt: string;
      /** Format: date-time */
      updatedAt: string;
    };
    Usage: {
      /** Format: uuid */
      tenantId: string;
      images: number;
      bytes: number;
      limits: {
        maxImages: number;
        maxBytes: number;
        maxImageBytes: number;
      };
      plan: string;
    };
    ImageHistoryPage: {
      /** Format: uuid */
      imageId: string;
      items: components['schemas']['ImageHistoryEvent'][];
      nextCursor: string | null;
    };
    ImageHistoryEvent: {
      /** @description the image’s version after the event: 1, 2, 3 … in log order */
      version: number;
      eventId: string;
      /** @enum {string} */
      type:
        | 'ImageUploaded'
        | 'ImageEmbedded'
        | 'ImageEmbeddingFailed'
        | 'ThumbnailGenerated'
        | 'ImageMetadataUpdated'
        | 'ImageDeleted';
      /** Format: date-time */
      occurredAt: string;
      actor: {
        /** @enum {string} */
        kind: 'user' | 'apiKey' | 'intake' | 'system';
        /** @description the user, API key or intake key id; the process for system (embedder, …) */
        id: string | null;
      };
      /** @description the X-Request-Id of the request, or the intake requestId */
      correlationId: string;
      causationId: string | null;
      /** @description only what the event changed, each as before and after */
      changes: {
        status?: components['schemas']['HistoryStatusChange'];
        tags?: components['schemas']['HistoryTagsChange'];
        attributes?: components['schemas']['HistoryAttributesChange'];
      };
      /** @description what the event says besides: the upload’s filename, mime, bytes, width, height, sha256 and source; an embedding’s model (id@version), dim and perceptualHash (never the vector); a failure’s model, reason and retriable; a thumbnail’s width, height and mime; a deletion’s bytes */
      details: {
        [key: string]: unknown;
      };
      /** @description topic:partition:offset of the event in Kafka */
      logPosition: string;
    };
    HistoryStatusChange: {
      /** @enum {string|null} */
      before: 'uploaded' | 'embedded' | 'failed' | 'deleted' | null;
      /** @enum {string|null} */
      after: 'uploaded' | 'embedded' | 'failed' | 'deleted' | null;
    };
    HistoryTagsChange: {
      before: string[] | null;
      after: string[] | null;
    };
    HistoryAttributesChange: {
      before: {
        [key: string]: string;
      } | null;
      after: {
        [key: string]: string;
      } | null;
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
    /** @description Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400. */
    GenerationHeader: components['schemas']['GenerationHeader'];
    /** @description Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403. */
    TenantHeader: components['schemas']['TenantHeader'];
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
