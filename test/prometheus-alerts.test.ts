import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from './support/cli.ts';

/**
 * monitoring/prometheus.yml and alerts.yml as promtool sees them: the config and rules are valid,
 * and the unit tests of alerts.test.yml pass (each alert fires on one series and stays quiet on
 * another). promtool (Debian's `prometheus` package) is required, not optional: CI installs it.
 */

const DIR = join(ROOT, 'monitoring');

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (run.error !== undefined) throw new Error(`promtool cannot be run (apt-get install prometheus): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface AlertRule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleTest {
  alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
}

const alertRules = (): AlertRule[] =>
  (parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

describe('Prometheus config and alerts (promtool)', () => {
  it("promtool check config accepts docker-compose.yml's Prometheus config too, with alerts.yml beside it as compose mounts them", (t) => {
    const mounted = mkdtempSync(join(tmpdir(), 'rtml-compose-prometheus-'));
    t.after(() => rmSync(mounted, { recursive: true, force: true }));
    copyFileSync(join(DIR, 'compose', 'prometheus.yml'), join(mounted, 'prometheus.yml'));
    copyFileSync(join(DIR, 'alerts.yml'), join(mounted, 'alerts.yml'));
    const checked = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: mounted, encoding: 'utf8' });
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
    assert.match(checked.stdout, /SUCCESS: 1 rule files found/);
  });

  it('promtool check config accepts prometheus.yml, which scrapes rtml-run and rtml-serve and loads alerts.yml', () => {
    const checked = promtool('check', 'config', 'prometheus.yml');
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /1 rule files found/);
    const config = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string }[] };
    assert.deepEqual(config.rule_files, ['alerts.yml']);
    assert.deepEqual(config.scrape_configs.map((c) => c.job_name), ['rtml-run', 'rtml-serve']);
  });

  it('promtool check rules accepts alerts.yml; every alert has a for:, a severity and a summary and description', () => {
    const checked = promtool('check', 'rules', 'alerts.yml');
    assert.equal(checked.status, 0, checked.output);
    const rules = alertRules();
    assert.ok(rules.length >= 13, `${rules.length} alerts`);
    for (const rule of rules) {
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert}: for:`);
      assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`);
    }
  });

  it('promtool test rules passes alerts.test.yml, which fires every alert at least once', () => {
    const tested = promtool('test', 'rules', 'alerts.test.yml');
    assert.equal(tested.status, 0, tested.output);
    assert.match(tested.output, /SUCCESS/);
    const tests = (parse(readFileSync(join(DIR, 'alerts.test.yml'), 'utf8')) as { tests: RuleTest[] }).tests;
    const fired = new Set(tests.flatMap((t) => t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname));
    assert.deepEqual(alertRules().map((r) => r.alert).filter((name) => !fired.has(name!)), [], 'alerts no test fires');
  });
});
