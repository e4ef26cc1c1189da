/**
 * The read API's OpenAPI 3.1 document, served at `/openapi.json`: generated from the contracts
 * the routes validate their requests with and describe their answers by (`routes/*Routes.ts`),
 * never written by hand. `client/` is typed from it (`npm run generate -w @deeplens/client`).
 */
import {
  generateOpenApiDocument,
  OpenAPIRegistry,
  registerProblemComponents,
  registerRoutes,
} from '@deeplens/platform/http/openApiRegistry';
import { browseContract } from './routes/browseRoutes.ts';
import { duplicateContract } from './routes/duplicateRoutes.ts';
import { historyContract } from './routes/historyRoutes.ts';
import { searchContract } from './routes/searchRoutes.ts';
import { snapshotHeaders } from './routes/snapshotHeaders.ts';

/** Every route of the read API's `/v1`, by the file that serves it. */
export const readApiContracts = {
  search: searchContract,
  duplicates: duplicateContract,
  browse: browseContract,
  history: historyContract,
};

function readApiDocument() {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
  });
  registerProblemComponents(registry);
  registry.registerParameter('GenerationHeader', snapshotHeaders.shape['DeepLens-Generation']);
  registry.registerParameter('TenantHeader', snapshotHeaders.shape['DeepLens-Tenant']);
  for (const routes of Object.values(readApiContracts)) registerRoutes(registry, routes);
  return generateOpenApiDocument(registry, {
    info: {
      title: 'DeepLens read API',
      version: '1.0.0',
      description: 'Similarity search and browsing of a tenant’s images. Errors are RFC 9457 problem+json.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
  });
}

export const readApiOpenApi = readApiDocument();
