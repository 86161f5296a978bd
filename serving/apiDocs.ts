import { SCOPES } from './apiKeys.ts';
import { jsonSchema } from './openapi.ts';
import { pathParams, responsesOf, type Route, type WebSocketRoute } from './routes/route.ts';

/**
 * The API for people, rendered from the route table: `GET /docs` (HTML, self-contained) and
 * docs/http-api.md (`npm run docs:api`). Both are built from the same list of entries.
 */

interface Entry {
  readonly title: string;
  readonly summary: string;
  readonly scope: string;
  readonly params: readonly (readonly [string, string])[];
  /** Pretty-printed JSON Schema of the body (or message), or null. */
  readonly schema: string | null;
  readonly schemaLabel: string;
  readonly responses: readonly (readonly [string, string])[];
}

const INTRO =
  `Credentials (header \`x-api-key: <key>\`, or \`Authorization: Bearer <key or JWT>\`) carry scopes: ${SCOPES.map((s) => `\`${s}\``).join(', ')}. ` +
  'Each route names the scope it needs; open routes need none. Errors answer `{"error": "<reason>", "code": "RTML_E_…"}`. ' +
  'The same table is served as OpenAPI 3.1 at `GET /openapi.json`.';

function entries(routes: readonly Route[], sockets: readonly WebSocketRoute[]): Entry[] {
  const http = routes.map((r): Entry => ({
    title: `${r.method.toUpperCase()} ${r.path}`,
    summary: r.summary,
    scope: r.scope ?? 'open',
    params: pathParams(r.path).map((name) => [name, r.params?.[name] ?? name] as const),
    schema: r.body === undefined ? null : JSON.stringify(jsonSchema(r.body), null, 2),
    schemaLabel: 'Body (JSON Schema)',
    responses: responsesOf(r).map(([status, text]) => [String(status), text] as const),
  }));
  const ws = sockets.map((s): Entry => ({
    title: `WebSocket ${s.path}`,
    summary: s.summary,
    scope: s.scope,
    params: [],
    schema: 'message' in s ? JSON.stringify(jsonSchema(s.message), null, 2) : null,
    schemaLabel: 'Message (JSON Schema)',
    responses: ['message' in s ? ['answer', s.answer] : ['sends', s.sends]],
  }));
  return [...http, ...ws];
}

/** docs/http-api.md. */
export function apiMarkdown(routes: readonly Route[], sockets: readonly WebSocketRoute[]): string {
  const lines = ['# rtml serve: HTTP API', '', '<!-- Generated from serving/routes by `npm run docs:api`: do not edit by hand. -->', '', INTRO, ''];
  const all = entries(routes, sockets);
  lines.push('| Route | Scope |', '| --- | --- |', ...all.map((e) => `| \`${e.title}\` | ${e.scope} |`), '');
  for (const e of all) {
    lines.push(`## \`${e.title}\``, '', e.summary, '', `Scope: **${e.scope}**`, '');
    if (e.params.length > 0) lines.push('Path parameters:', '', ...e.params.map(([name, text]) => `- \`${name}\`: ${text}`), '');
    if (e.schema !== null) lines.push(`${e.schemaLabel}:`, '', '```json', e.schema, '```', '');
    lines.push('Answers:', '', ...e.responses.map(([status, text]) => `- ${status}: ${text}`), '');
  }
  return lines.join('\n');
}

/** `GET /docs`: one page, no scripts, no external resources. */
export function apiHtml(routes: readonly Route[], sockets: readonly WebSocketRoute[]): string {
  const all = entries(routes, sockets);
  const id = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const sections = all.map((e) => {
    const params = e.params.length === 0 ? '' : `<h3>Path parameters</h3><ul>${e.params.map(([name, text]) => `<li><code>${escape(name)}</code>: ${inline(text)}</li>`).join('')}</ul>`;
    const schema = e.schema === null ? '' : `<h3>${escape(e.schemaLabel)}</h3><pre>${escape(e.schema)}</pre>`;
    const answers = `<h3>Answers</h3><ul>${e.responses.map(([status, text]) => `<li><b>${escape(status)}</b> ${inline(text)}</li>`).join('')}</ul>`;
    return `<section id="${id(e.title)}"><h2><code>${escape(e.title)}</code> <span class="scope">${escape(e.scope)}</span></h2><p>${inline(e.summary)}</p>${params}${schema}${answers}</section>`;
  });
  const index = all.map((e) => `<li><a href="#${id(e.title)}"><code>${escape(e.title)}</code></a> <span class="scope">${escape(e.scope)}</span></li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtml serve: HTTP API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.75rem;overflow:auto}.scope{font-size:.8em;padding:0 .4em;border:1px solid #999;border-radius:.3em}section{border-top:1px solid #ddd;margin-top:1.5rem}</style>
</head><body><h1>rtml serve: HTTP API</h1><p>${inline(INTRO)}</p><ul>${index}</ul>${sections.join('\n')}</body></html>
`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Escaped text with `code` spans. */
function inline(text: string): string {
  return escape(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}
