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
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: {
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
          };
          'multipart/form-data': {
            /** Format: binary */
            file: string;
            k?: number;
            threshold?: number;
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
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
      };
    };
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
          cursor?: string;
          limit?: number;
          tag?: string;
          status?: 'uploaded' | 'embedded' | 'indexed' | 'failed';
        };
        header?: never;
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
            'application/json': {
              items?: components['schemas']['Image'][];
              nextCursor?: string | null;
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
        header?: never;
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
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
          threshold?: number;
          tag?: string;
          model?: string;
        };
        header?: never;
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
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
        header?: never;
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
            'image/webp': unknown;
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
        header?: never;
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
            'image/*': unknown;
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
    /** Groups of near-duplicate images */
    get: {
      parameters: {
        query?: {
          threshold?: number;
          limit?: number;
        };
        header?: never;
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
            'application/json': {
              groups?: {
                images?: {
                  imageId?: string;
                  filename?: string;
                }[];
              }[];
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
        header?: never;
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
            'application/json': {
              tenantId?: string;
              images?: number;
              bytes?: number;
              plan?: string;
            };
          };
        };
        400: components['responses']['Problem'];
        401: components['responses']['Problem'];
        403: components['responses']['Problem'];
        404: components['responses']['Problem'];
        413: components['responses']['Problem'];
        415: components['responses']['Problem'];
        422: components['responses']['Problem'];
        429: components['responses']['Problem'];
        503: components['responses']['Problem'];
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
    Filter: {
      tags?: string[];
      attributes?: {
        [key: string]: string;
      };
    };
    Hit: {
      /** Format: uuid */
      imageId?: string;
      score?: number;
      filename?: string;
      tags?: string[];
      attributes?: {
        [key: string]: string;
      };
      thumbnailUrl?: string | null;
      contentUrl?: string;
      /**
       * @description perceptual-hash: its perceptual hash matched the query image (an edited copy), so it was ranked first; descriptor: ranked by similarity alone
       * @enum {unknown}
       */
      rankedBy?: 'perceptual-hash' | 'descriptor';
    };
    SearchResult: {
      model?: {
        modelId?: string;
        modelVersion?: string;
      };
      hits?: components['schemas']['Hit'][];
    };
    Image: {
      /** Format: uuid */
      id?: string;
      /** @enum {unknown} */
      status?: 'uploaded' | 'embedded' | 'indexed' | 'failed';
      failure?: {
        reason?: string;
        retriable?: boolean;
      } | null;
      filename?: string;
      mime?: string;
      bytes?: number;
      width?: number;
      height?: number;
      sha256?: string;
      tags?: string[];
      attributes?: {
        [key: string]: string;
      };
      thumbnailUrl?: string | null;
      contentUrl?: string;
      /** Format: date-time */
      uploadedAt?: string;
      /** Format: date-time */
      updatedAt?: string;
    };
  };
  responses: {
    /** @description RFC 9457 problem details */
    Problem: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/problem+json': {
          type?: string;
          title?: string;
          status?: number;
          detail?: string;
          code?: string;
        };
      };
    };
  };
  parameters: never;
  requestBodies: never;
  headers: never;
  pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
