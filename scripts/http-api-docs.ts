/**
 * `npm run docs:api`: writes docs/http-api.md from the server's route table (serving/routes).
 * test/serve-api.test.ts fails while the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiMarkdown } from '../serving/apiDocs.ts';
import { ROUTES, SOCKET_ROUTES } from '../serving/routes/index.ts';

export const HTTP_API_DOC = fileURLToPath(new URL('../docs/http-api.md', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(HTTP_API_DOC, apiMarkdown(ROUTES, SOCKET_ROUTES));
  process.stdout.write(`wrote ${HTTP_API_DOC}\n`);
}
