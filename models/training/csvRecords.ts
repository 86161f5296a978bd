/**
 * RFC 4180 CSV records, as `tableFile.ts` writes them: comma-separated, fields with a comma, quote
 * or line break quoted, quotes doubled; `\n` or `\r\n` line ends. Calls `onRecord` with the fields
 * and the 1-based line the record starts on (a quoted line break makes a record span lines). A blank
 * line is skipped.
 */
export function forEachCsvRecord(text: string, onRecord: (fields: string[], line: number) => void): void {
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = 0;
  const n = text.length;
  const endRecord = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== '') onRecord(fields, start);
    fields = [];
    field = '';
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */ && field === '') {
      // Quoted field: up to the closing quote; "" is one quote.
      let j = i + 1;
      let value = '';
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) throw new SyntaxError(`line ${start}: a quoted field is never closed`);
        value += text.slice(j, q);
        for (let k = j; k < q; k++) if (text.charCodeAt(k) === 0x0a) line++;
        if (text.charCodeAt(q + 1) === 0x22) {
          value += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      field = value;
      continue;
    }
    if (c === 0x2c /* , */) {
      fields.push(field);
      field = '';
      i++;
    } else if (c === 0x0a || c === 0x0d) {
      endRecord();
      i += c === 0x0d && text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
      start = ++line;
    } else {
      // Unquoted run up to the next separator, taken in one slice.
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x2c || d === 0x0a || d === 0x0d) break;
        j++;
      }
      field += text.slice(i, j);
      i = j;
    }
  }
  if (field !== '' || fields.length > 0) endRecord();
}
