/** A URI for messages: `postgres://user:***@host/db` (the password never reaches a log line). */
export function redactUri(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
