// Prints what rtml monitor found per window: the drift share and the features that drifted (by
// their decisive test), and the online AUC and recall of the outcomes that arrived in the window.
// Usage: node demo/windows.mjs drift.jsonl accuracy.jsonl [<epoch ms of the shift, marked>]
import { readFileSync } from 'node:fs';
const [driftFile, accuracyFile, shiftAt = 'NaN'] = process.argv.slice(2);
const read = (file) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const drift = read(driftFile);
const accuracy = read(accuracyFile);
const hhmm = (t) => new Date(t).toISOString().slice(11, 16);
const fixed = (x) => (x === null || x === undefined ? '   -' : x.toFixed(2));
const windows = [...new Set([...drift, ...accuracy].map((r) => r.window_start))].sort((a, b) => a - b);
console.log('  window       version  drift share  drifted features                              AUC   recall  labelled');
for (const start of windows) {
  for (const version of [...new Set(accuracy.filter((r) => r.window_start === start).map((r) => r.version).concat(drift.filter((r) => r.window_start === start).map((r) => r.version)))]) {
    const share = drift.find((r) => r.window_start === start && r.version === version && r.feature === '*' && r.test === 'drift_share');
    const drifted = drift.filter((r) => r.window_start === start && r.version === version && r.decisive && r.drifted && r.feature !== '*').map((r) => r.feature.replace('card_minute__', 'minute_'));
    const metric = (m) => accuracy.find((r) => r.window_start === start && r.version === version && r.metric === m)?.value ?? null;
    const mark = share?.drifted ? 'DRIFT' : '     ';
    const when = Number(shiftAt) < start + 10 * 60_000 && Number(shiftAt) >= start ? ' <- the shift' : '';
    console.log(`  ${hhmm(start)}-${hhmm(start + 10 * 60_000)}  ${version.padEnd(7)}  ${share ? fixed(share.value) : '   -'} ${mark}  ${(drifted.join(', ') || '-').padEnd(44)}  ${fixed(metric('auc'))}  ${fixed(metric('recall'))}  ${String(metric('labelled') ?? '-').padStart(6)}${when}`);
  }
}
