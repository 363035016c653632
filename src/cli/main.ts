// kmp command-line entry point. `kmp serve` runs the proxy; every other command speaks the admin API over HTTP
// (docs/admin-api.md). Exit codes: 0 success, 1 the API refused or could not be reached, 2 usage error.
import { parseArgs } from 'node:util';
import { AdminApiError, AdminClient, AdminUnreachableError, type WriteRequest } from './admin-client.ts';
import { formatGateResult, runGateCommand } from './gates.ts';
import { formatFleet } from '../fleet/format.ts';
import { ConsumersUsageError, formatConsumers, runConsumersCommand } from './consumers.ts';
import { CliValueError, formatBypass, formatCanary, formatTopicStatus, parseDurationMs, parseRate, runCanaryFlip } from './gates2.ts';
import type { BypassReport } from '../gates/bypass-detector.ts';
import type { CanaryView } from '../gates/canary.ts';
import { formatTransactions, type TransactionsView } from '../transactions/format.ts';
import { formatAny, formatAudit, formatStatus, formatInventory, formatLedger, formatOperation, formatResolution, formatRoutes } from './format.ts';

const USAGE = `usage: kmp <command> [options]

  serve --config FILE              run the proxy
  routes                           batches, their state and the table version
  resolve TOPIC                    the cluster a topic goes to, and the rule that chose it
  status [--topic T]               connections, in-flight and held requests, upstream health; with --topic:
                                   the topic's evidence (rates, errors, latency, event age per cluster, schema ids)
  fleet                            fleet members: lease age, applied table version, partitions led, load
  flip BATCH | --topic T           move a batch (or one topic) to the target cluster
  flip WAVE --canary T[,T] --watch 60s --max-error-rate 0.1% [--max-p99-ms N]
                                   flip the canary topics first, watch them, roll them back on a breach, else
                                   flip the whole wave (progress line on stderr; exit 1 when rolled back)
  bypass [--check]                 writes to the old cluster of moved partitions that kmp did not make
  operations [ID]                  long-running operations (canary flips) and their progress
  rollback BATCH | --topic T | --all
                                   move a batch, a topic, or everything back to the source cluster
  promote BATCH                    make the target authoritative for a batch (rollback then needs --force)
  audit [--limit N]                who changed what, when and why
  ledger [--topic T] [--limit N]   per-partition offsets at every move
  inventory [--topic T]            which producers (client id, software) write to which topics
  transactions                     transactional ids: home cluster, state, coupled topics; flip waits
  prepare WAVE [--apply] [--replication-factor N]
                                   what the target lacks for a wave; --apply creates the missing topics
  schemas WAVE                     the schema gate for a wave: ids in use vs. the target registry
  consumers [--wave W]             per wave: consumer groups, the cluster each reads, lag and readiness
  consumers move GROUP --wave W [--dry-run] [--back] [--reason TEXT]
                                   move a stopped group to the target at exact offsets (--back: to the source)
  sasl-credential USER [--mechanism SCRAM-SHA-512,SCRAM-SHA-256] [--iterations N]
                                   print a SASL credentials-file entry; the password is read from stdin
                                   (or $KMP_SASL_PASSWORD), only salted keys are printed

write options:  --reason TEXT  --dry-run  --force
global options: --admin URL    admin API (default $KMP_ADMIN_URL or http://127.0.0.1:9644)
                --token TOKEN  bearer token (default $KMP_ADMIN_TOKEN; prefer the variable: argv is visible to others)
                --json         print the API's JSON instead of tables
`;

class UsageError extends Error {}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  admin: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  reason: { type: 'string', short: 'r' },
  'dry-run': { type: 'boolean' },
  force: { type: 'boolean' },
  topic: { type: 'string', short: 't' },
  all: { type: 'boolean' },
  limit: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  mechanism: { type: 'string' },
  iterations: { type: 'string' },
  apply: { type: 'boolean' },
  'replication-factor': { type: 'string' },
  wave: { type: 'string', short: 'w' },
  back: { type: 'boolean' },
  canary: { type: 'string' },
  watch: { type: 'string' },
  'max-error-rate': { type: 'string' },
  'max-p99-ms': { type: 'string' },
  check: { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = ['admin', 'token', 'json', 'help'];
const WRITE: readonly OptionName[] = [...GLOBAL, 'reason', 'dry-run', 'force'];
/** Which options each command accepts, so that e.g. `kmp routes --force` is a usage error, not silently ignored. */
const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionName[]>> = {
  serve: ['config', 'help'],
  routes: GLOBAL,
  resolve: GLOBAL,
  status: [...GLOBAL, 'topic'],
  bypass: [...GLOBAL, 'check'],
  operations: GLOBAL,
  fleet: GLOBAL,
  audit: [...GLOBAL, 'limit'],
  ledger: [...GLOBAL, 'limit', 'topic'],
  inventory: [...GLOBAL, 'topic'],
  transactions: GLOBAL,
  flip: [...WRITE, 'topic', 'canary', 'watch', 'max-error-rate', 'max-p99-ms'],
  rollback: [...WRITE, 'topic', 'all'],
  promote: WRITE,
  'sasl-credential': ['mechanism', 'iterations', 'help'],
  prepare: [...GLOBAL, 'apply', 'replication-factor', 'reason'],
  schemas: GLOBAL,
  consumers: [...GLOBAL, 'wave', 'back', 'dry-run', 'reason'],
};

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (command === 'help' || (command === undefined && values.help === true)) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === undefined) throw new UsageError('no command given');
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined) throw new UsageError(`unknown command "${command}"`);
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  for (const name of Object.keys(values) as OptionName[]) {
    if (!allowed.includes(name)) throw new UsageError(`option --${name} does not apply to "${command}"`);
  }

  if (command === 'serve') {
    if (values.config === undefined) throw new UsageError('serve needs --config FILE');
    expectArgs(command, args, 0);
    // Loaded only here, so the admin commands start fast and never depend on the data path's modules.
    const { runServe } = await import('../serve.ts');
    return await runServe(values.config);
  }

  if (command === 'sasl-credential') {
    const [user] = expectArgs(command, args, 1, 'USER');
    const { runSaslCredential, CredentialCommandError } = await import('../security/credentials-command.ts');
    try {
      return await runSaslCredential({ user, ...(values.mechanism !== undefined ? { mechanism: values.mechanism } : {}), ...(values.iterations !== undefined ? { iterations: values.iterations } : {}) });
    } catch (error) {
      if (error instanceof CredentialCommandError) throw new UsageError(error.message);
      throw error;
    }
  }

  const client = new AdminClient(
    values.admin ?? process.env.KMP_ADMIN_URL ?? 'http://127.0.0.1:9644',
    values.token ?? process.env.KMP_ADMIN_TOKEN,
  );
  const json = values.json === true;
  const print = (body: unknown, human: () => string) => process.stdout.write(`${json ? JSON.stringify(body, null, 2) : human()}\n`);
  const write: WriteRequest = {
    ...(values.reason !== undefined ? { reason: values.reason } : {}),
    ...(values['dry-run'] === true ? { dryRun: true } : {}),
    ...(values.force === true ? { force: true } : {}),
  };
  const limit = values.limit === undefined ? undefined : positiveInt('--limit', values.limit);

  switch (command) {
    case 'routes': {
      expectArgs(command, args, 0);
      const routes = await client.routes();
      print(routes, () => formatRoutes(routes));
      return 0;
    }
    case 'resolve': {
      const [topic] = expectArgs(command, args, 1, 'TOPIC');
      const resolution = await client.resolve(topic);
      print(resolution, () => formatResolution(resolution));
      return 0;
    }
    case 'status': {
      expectArgs(command, args, 0);
      if (values.topic !== undefined) {
        const body = await client.get(`/v1/topics/${encodeURIComponent(values.topic)}/evidence`);
        print(body, () => formatTopicStatus(body));
        return 0;
      }
      const status = await client.status();
      print(status, () => formatStatus(status));
      return 0;
    }
    case 'fleet': {
      expectArgs(command, args, 0);
      const fleet = await client.fleet();
      print(fleet, () => formatFleet(fleet));
      return 0;
    }
    case 'audit': {
      expectArgs(command, args, 0);
      const page = await client.audit(limit);
      print(page, () => formatAudit(page));
      return 0;
    }
    case 'ledger': {
      expectArgs(command, args, 0);
      const page = await client.ledger({ ...(values.topic !== undefined ? { topic: values.topic } : {}), ...(limit !== undefined ? { limit } : {}) });
      print(page, () => formatLedger(page));
      return 0;
    }
    case 'inventory': {
      expectArgs(command, args, 0);
      const inventory = await client.inventory(values.topic);
      print(inventory, () => formatInventory(inventory.topics));
      return 0;
    }
    case 'bypass': {
      expectArgs(command, args, 0);
      const report = (await client.get(`/v1/bypass${values.check === true ? '?check=true' : ''}`)) as BypassReport;
      print(report, () => formatBypass(report));
      return 0;
    }
    case 'operations': {
      if (args.length > 1) throw new UsageError('operations takes at most one ID');
      if (args.length === 1) {
        const op = (await client.get(`/v1/operations/${encodeURIComponent(args[0])}`)) as CanaryView;
        print(op, () => formatCanary(op));
        return 0;
      }
      const list = (await client.get('/v1/operations')) as { operations: CanaryView[] };
      print(list, () => (list.operations.length === 0 ? 'no operations' : list.operations.map((o) => formatCanary(o).split('\n')[0]).join('\n')));
      return 0;
    }
    case 'transactions': {
      expectArgs(command, args, 0);
      const view = (await client.get('/v1/transactions')) as TransactionsView;
      print(view, () => formatTransactions(view));
      return 0;
    }
    case 'flip':
    case 'rollback':
    case 'promote': {
      if (command === 'flip' && (values.canary !== undefined || values.watch !== undefined || values['max-error-rate'] !== undefined || values['max-p99-ms'] !== undefined)) {
        const [wave] = expectArgs(command, args, 1, 'WAVE (a canary flip is a batch flip)');
        if (values.topic !== undefined) throw new UsageError('a canary flip takes a WAVE, not --topic');
        if (values.canary === undefined || values.watch === undefined || values['max-error-rate'] === undefined) {
          throw new UsageError('a canary flip needs --canary T[,T], --watch DURATION and --max-error-rate RATE');
        }
        let canary;
        try {
          canary = {
            topics: values.canary.split(',').map((t) => t.trim()).filter((t) => t !== ''),
            watchMs: parseDurationMs('--watch', values.watch),
            maxErrorRate: parseRate('--max-error-rate', values['max-error-rate']),
            ...(values['max-p99-ms'] !== undefined ? { maxP99Ms: positiveInt('--max-p99-ms', values['max-p99-ms']) } : {}),
          };
        } catch (error) {
          if (error instanceof CliValueError) throw new UsageError(error.message);
          throw error;
        }
        const { final, body } = await runCanaryFlip(client, wave, canary, write, process.stderr);
        print(body, () => (final === null ? formatOperation(body as Parameters<typeof formatOperation>[0]) : formatCanary(final)));
        return final === null || final.phase === 'done' ? 0 : 1;
      }
      const path = writePath(command, args, values.topic, values.all === true);
      const result = await client.write(path, write);
      print(result, () => formatOperation(result));
      return 0;
    }
    case 'prepare':
    case 'schemas': {
      const [wave] = expectArgs(command, args, 1, 'WAVE');
      const rf = values['replication-factor'];
      const body = await runGateCommand(client, command, wave, { apply: values.apply === true, ...(rf !== undefined ? { replicationFactor: positiveInt('--replication-factor', rf) } : {}), ...(values.reason !== undefined ? { reason: values.reason } : {}) });
      print(body, () => formatGateResult(command, body));
      return 0;
    }
    case 'consumers': {
      let answer;
      try {
        answer = await runConsumersCommand(client, { args, ...(values.wave !== undefined ? { wave: values.wave } : {}), back: values.back === true, dryRun: values['dry-run'] === true, ...(values.reason !== undefined ? { reason: values.reason } : {}) });
      } catch (error) {
        if (error instanceof ConsumersUsageError) throw new UsageError(error.message);
        throw error;
      }
      print(answer.body, () => formatConsumers(answer.kind, answer.body));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** The endpoint of a write: exactly one of BATCH, --topic T, --all (rollback only). */
function writePath(command: 'flip' | 'rollback' | 'promote', args: readonly string[], topic: string | undefined, all: boolean): string {
  const given = (args.length > 0 ? 1 : 0) + (topic !== undefined ? 1 : 0) + (all ? 1 : 0);
  const forms = command === 'rollback' ? 'BATCH, --topic T or --all' : command === 'flip' ? 'BATCH or --topic T' : 'BATCH';
  if (given !== 1 || args.length > 1) throw new UsageError(`${command} takes exactly one of ${forms}`);
  if (all) return '/v1/rollback-all';
  if (topic !== undefined) return `/v1/topics/${encodeURIComponent(topic)}/${command}`;
  return `/v1/batches/${encodeURIComponent(args[0])}/${command}`;
}

function expectArgs(command: string, args: readonly string[], count: number, names = ''): string[] {
  if (args.length !== count) {
    throw new UsageError(count === 0 ? `${command} takes no arguments (got "${args.join(' ')}")` : `${command} takes ${names}`);
  }
  return [...args];
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name}: expected a positive integer, got "${raw}"`);
  return n;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`kmp: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (error instanceof AdminApiError) {
    if (process.argv.includes('--json') && error.body !== null && typeof error.body === 'object') {
      process.stdout.write(`${JSON.stringify(error.body, null, 2)}\n`);
    }
    // Details the message already quotes (pre-flight refusals usually are) are not repeated.
    const details = error.details.filter((d) => !error.message.includes(d));
    process.stderr.write(`kmp: ${error.message} (${error.status} ${error.code})\n${details.map((d) => `  - ${d}\n`).join('')}`);
    process.exitCode = 1;
  } else if (error instanceof AdminUnreachableError) {
    process.stderr.write(`kmp: ${error.message}\n`);
    process.exitCode = 1;
  } else if (error instanceof Error && error.name === 'ConfigError') {
    // Config problems are listed one per line by the message itself; a stack would only hide them.
    process.stderr.write(`kmp: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`kmp: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
