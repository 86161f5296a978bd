import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { aptPackages, dockerfileInstructions, dockerignoreAllowed, importClosure, installShPackages, ROOT, type Instruction } from './support/deployFiles.ts';

// The deployment files cannot be run here (no Docker engine, no cluster): these tests check what can
// be checked without one — the compose file with docker-compose itself, the Dockerfile against the
// repository, the Kubernetes manifests against the Kubernetes API schemas.

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Stage {
  readonly from: string;
  readonly instructions: Instruction[];
}

function stages(): Stage[] {
  const result: Stage[] = [];
  for (const instruction of dockerfileInstructions(read('Dockerfile'))) {
    if (instruction.keyword === 'FROM') result.push({ from: instruction.args, instructions: [] });
    else result.at(-1)!.instructions.push(instruction);
  }
  return result;
}

test('Dockerfile: a build stage with install.sh packages, a slim non-root runtime stage', () => {
  const [build, runtime, ...more] = stages();
  assert.equal(more.length, 0);
  assert.equal(build!.from, 'node:20-bookworm AS build');
  assert.equal(runtime!.from, 'node:20-bookworm-slim');
  // What the tests use as independent peers and checkers is not part of the image.
  const testTools = new Set(['kcat', 'docker-compose', 'prometheus', 'chromium']);
  const needed = installShPackages().filter((p) => !testTools.has(p));
  assert.deepEqual(needed.filter((p) => !aptPackages(build!.instructions).includes(p)), [], 'install.sh packages missing from the build stage');
  // npm ci compiles dist/ (prepare, with the dev dependency TypeScript); the dev dependencies go after.
  assert.ok(build!.instructions.some((i) => i.keyword === 'RUN' && /ONNXRUNTIME_NODE_INSTALL=skip CKJS_LINKING=dynamic npm ci .*npm prune --omit=dev/s.test(i.args)));
  assert.equal(runtime!.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args, 'node');
  const entrypoint = JSON.parse(runtime!.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];
  assert.deepEqual(entrypoint, ['bin/rtml'], 'the rtml command (it picks the Node flags per command)');
  assert.ok(existsSync(join(ROOT, entrypoint[0]!)), `ENTRYPOINT script ${entrypoint[0]} exists`);
  assert.ok(!runtime!.instructions.some((i) => /\b(gcc|g\+\+|make|-dev)\b/.test(i.args) && i.keyword === 'RUN'), 'no toolchain in the runtime stage');
});

test('Dockerfile: every COPY source exists, is in the build context, and the image holds all rtml loads', () => {
  const allowed = dockerignoreAllowed(read('.dockerignore'));
  const copied: string[] = [];
  for (const { instructions } of stages()) {
    for (const { keyword, args } of instructions) {
      if (keyword !== 'COPY' || args.startsWith('--from')) continue;
      const sources = args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: not in the repository`);
        assert.ok(allowed.has(source.split('/')[0]!), `COPY ${source}: excluded by .dockerignore`);
      }
      copied.push(...sources);
    }
  }
  assert.deepEqual([...allowed].filter((name) => !copied.includes(name)), [], '.dockerignore lets in only what is copied');
  // What the CLI (and the topologies it runs in the deployments) load must be in the image...
  const topologies = readdirSync(join(ROOT, 'topologies')).map((f) => `topologies/${f}`);
  const closure = importClosure(['bin/rtml.mjs', ...topologies]);
  assert.deepEqual(closure.missing, []);
  const outside = [...closure.files].filter((file) => !copied.some((c) => file === c || file.startsWith(`${c}/`)));
  assert.deepEqual(outside, [], 'files rtml loads that the image does not have');
  // ...and the packages they import must survive `npm ci --omit=dev`.
  const { dependencies } = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
  assert.deepEqual([...closure.packages].filter((p) => !(p in dependencies)), [], 'imported at run time but not a dependency');
  assert.ok(closure.packages.has('@confluentinc/kafka-javascript') && closure.packages.has('onnxruntime-node'));
});

test("Dockerfile: the runtime stage installs the libraries the Kafka binding's native code needs", () => {
  const kafka = join(ROOT, 'node_modules/@confluentinc/kafka-javascript/build');
  const natives = [join(kafka, 'Release/confluent-kafka-javascript.node'), join(kafka, 'deps/librdkafka.so.1')].filter(existsSync);
  assert.ok(natives.length > 0, 'the Kafka binding is built (install.sh)');
  // Direct dependencies outside node_modules; those Node itself needs come with node:20-bookworm-slim.
  const inNodeImage = new Set(['libc6', 'libgcc-s1', 'libstdc++6']);
  const needed = new Set<string>();
  for (const file of natives) {
    for (const [, soname] of execFileSync('readelf', ['-d', file], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      if (soname!.startsWith('librdkafka')) continue; // the binding's own build, beside it (rpath)
      const owner = execFileSync('dpkg', ['-S', `*/${soname}`], { encoding: 'utf8' }).split(':')[0]!;
      if (!inNodeImage.has(owner)) needed.add(owner);
    }
  }
  const runtime = aptPackages(stages()[1]!.instructions);
  assert.deepEqual([...needed].filter((p) => !runtime.includes(p)), [], 'libraries the runtime stage lacks');
});

interface ComposeService {
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  command?: string[];
}

test('docker-compose.yml: valid for docker-compose, every long-running service has a healthcheck, dependencies wait for health', () => {
  execFileSync('docker-compose', ['config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const config = parse(execFileSync('docker-compose', ['config'], { cwd: ROOT, encoding: 'utf8' })) as { services: Record<string, ComposeService> };
  const services = config.services;
  assert.deepEqual(Object.keys(services).sort(), ['grafana', 'kafka', 'kafka-topics', 'postgres', 'prometheus', 'redis', 'serve', 'worker']);
  const oneShot = new Set(['kafka-topics']);
  for (const [name, service] of Object.entries(services)) {
    if (!oneShot.has(name)) assert.ok(service.healthcheck?.test.length, `${name} has a healthcheck`);
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      const expected = oneShot.has(dependency) ? 'service_completed_successfully' : 'service_healthy';
      assert.equal(condition, expected, `${name} waits for ${dependency}`);
    }
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('/')) assert.ok(existsSync(source), `${name} mounts ${source}, which exists`);
    }
  }
  assert.match(services.serve!.healthcheck!.test.join(' '), /127\.0\.0\.1:8000\/ready/);
  assert.match(services.worker!.healthcheck!.test.join(' '), /127\.0\.0\.1:9464\/health/);
  assert.ok(services.worker!.command!.includes('--metrics-port=9464') && services.worker!.command!.includes('--scale-out'));
  assert.match(services.postgres!.healthcheck!.test.join(' '), /pg_isready/);
  assert.match(services.redis!.healthcheck!.test.join(' '), /redis-cli ping/);
  assert.match(services.kafka!.healthcheck!.test.join(' '), /kafka-broker-api-versions/);
  assert.ok(existsSync(join(ROOT, services.worker!.command![1]!)), 'the worker runs a topology the image has');
});

// --- Kubernetes -------------------------------------------------------------------------------

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

interface Model {
  validate(): void;
}

/** The Kubernetes API schema of `apiVersion`/`kind` (kubernetes-models: Ajv validators generated from Kubernetes' OpenAPI spec). */
async function kubernetesModel(manifest: Manifest): Promise<new (data: unknown) => Model> {
  // Module paths follow apiVersion: kubernetes-models/apps/v1/Deployment, kubernetes-models/v1/Service.
  const module = (await import(`kubernetes-models/${manifest.apiVersion}/${manifest.kind}`)) as Record<string, new (data: unknown) => Model>;
  const model = module[manifest.kind];
  assert.ok(model, `${manifest.apiVersion} ${manifest.kind}: a Kubernetes kind`);
  return model;
}

function manifests(): Manifest[] {
  return readdirSync(join(ROOT, 'k8s'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(read(`k8s/${f}`)).map((doc) => doc.toJS() as Manifest));
}

async function validate(manifest: Manifest): Promise<void> {
  new (await kubernetesModel(manifest))(manifest).validate();
}

test('k8s/: every manifest is valid against the Kubernetes API schemas (and an invalid one is refused)', async () => {
  const all = manifests();
  assert.deepEqual(all.map((m) => `${m.apiVersion} ${m.kind} ${m.metadata.name}`).sort(), [
    'apps/v1 Deployment rtml-serve',
    'apps/v1 Deployment rtml-worker',
    'autoscaling/v2 HorizontalPodAutoscaler rtml-serve',
    'policy/v1 PodDisruptionBudget rtml-serve',
    'v1 ConfigMap rtml-config',
    'v1 PersistentVolumeClaim rtml-checkpoints',
    'v1 PersistentVolumeClaim rtml-models',
    'v1 Service rtml-serve',
  ]);
  for (const manifest of all) await validate(manifest);
  const broken = structuredClone(all.find((m) => m.kind === 'Deployment')!) as unknown as { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
  broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'eight thousand';
  await assert.rejects(validate(broken as unknown as Manifest), /containerPort must be integer/);
});

interface Container {
  name: string;
  args: string[];
  env?: { name: string; valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string }[];
}

interface PodSpec {
  containers: Container[];
  volumes: { name: string; persistentVolumeClaim?: { claimName: string }; secret?: { secretName: string } }[];
}

test('k8s/: the manifests refer to each other, to the Secrets README.md creates, and to ports the containers open', () => {
  const all = manifests();
  const named = (kind: string, name: string) => all.find((m) => m.kind === kind && m.metadata.name === name);
  const readme = read('k8s/README.md');
  const deployments = all.filter((m) => m.kind === 'Deployment');
  const labelsOf = (d: Manifest) => (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const probes: Record<string, { ready: string; live: string }> = { 'rtml-serve': { ready: '/ready', live: '/health' }, 'rtml-worker': { ready: '/health', live: '/health' } };

  for (const deployment of deployments) {
    const spec = deployment.spec as { selector: { matchLabels: Record<string, string> }; template: { spec: PodSpec } };
    assert.ok(matches(spec.selector.matchLabels, labelsOf(deployment)), `${deployment.metadata.name}: selector matches its pods`);
    const pod = spec.template.spec;
    for (const container of pod.containers) {
      const where = `${deployment.metadata.name}/${container.name}`;
      const ports = container.ports.map((p) => p.name);
      assert.ok(ports.includes(container.readinessProbe.httpGet.port) && ports.includes(container.livenessProbe.httpGet.port), `${where}: probes on its ports`);
      assert.equal(container.readinessProbe.httpGet.path, probes[deployment.metadata.name]!.ready);
      assert.equal(container.livenessProbe.httpGet.path, probes[deployment.metadata.name]!.live);
      assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.cpu && container.resources.limits.memory, `${where}: requests and limits`);
      const env = new Set((container.env ?? []).map((e) => e.name));
      for (const [, variable] of container.args.join(' ').matchAll(/\$\((\w+)\)/g)) assert.ok(env.has(variable!), `${where}: $(${variable}) is defined`);
      for (const { valueFrom } of container.env ?? []) {
        const configMap = valueFrom?.configMapKeyRef;
        if (configMap) assert.ok(named('ConfigMap', configMap.name)?.data?.[configMap.key] !== undefined, `${where}: ConfigMap ${configMap.name} has ${configMap.key}`);
        const secret = valueFrom?.secretKeyRef;
        if (secret) assert.match(readme, new RegExp(`kubectl create secret generic ${secret.name} `), `${where}: README.md creates Secret ${secret.name}`);
      }
      const volumes = new Set(pod.volumes.map((v) => v.name));
      for (const mount of container.volumeMounts) assert.ok(volumes.has(mount.name), `${where}: volume ${mount.name}`);
    }
    for (const volume of pod.volumes) {
      if (volume.persistentVolumeClaim) assert.ok(named('PersistentVolumeClaim', volume.persistentVolumeClaim.claimName), `claim ${volume.persistentVolumeClaim.claimName}`);
      if (volume.secret) assert.match(readme, new RegExp(`kubectl create secret generic ${volume.secret.secretName} `), `README.md creates Secret ${volume.secret.secretName}`);
    }
  }
  for (const claim of all.filter((m) => m.kind === 'PersistentVolumeClaim')) {
    assert.deepEqual((claim.spec as { accessModes: string[] }).accessModes, ['ReadWriteMany'], `${claim.metadata.name}: shared by every pod`);
  }
  const service = named('Service', 'rtml-serve')!.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
  const serve = named('Deployment', 'rtml-serve')!;
  assert.ok(matches(service.selector, labelsOf(serve)));
  const servePorts = (serve.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!.ports.map((p) => p.name);
  assert.ok(service.ports.every((p) => servePorts.includes(p.targetPort)));
  const hpa = named('HorizontalPodAutoscaler', 'rtml-serve')!.spec as { scaleTargetRef: { kind: string; name: string }; metrics: { resource: { name: string } }[] };
  assert.ok(named(hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name));
  assert.equal(hpa.metrics[0]!.resource.name, 'cpu');
  const pdb = named('PodDisruptionBudget', 'rtml-serve')!.spec as { selector: { matchLabels: Record<string, string> } };
  assert.ok(matches(pdb.selector.matchLabels, labelsOf(serve)));
  const worker = (named('Deployment', 'rtml-worker')!.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!;
  assert.ok(worker.args.includes('--scale-out') && worker.args.some((a) => a.startsWith('--checkpoint-dir=')));
});
