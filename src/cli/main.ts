// kmp command-line entry point. `kmp serve` runs the proxy; every other command speaks the admin API over HTTP
// (docs/admin-api.md). Exit codes: 0 success, 1 the API refused or could not be reached, 2 usage error.
import { parseArgs } from 'node:util';
import { AdminApiError, AdminClient, AdminUnreachableError, type WriteRequest } from './admin-client.ts';
import { formatGateResult, runGateCommand } from './gates.ts';
import { formatTransactions, type TransactionsView } from '../transactions/format.ts';
import { formatAny, formatAudit, formatStatus, formatInventory, formatLedger, formatOperation, formatResolution, formatRoutes } from './format.ts';

const USAGE = `usage: kmp <command> [options]

  serve --config FILE              run the proxy
  routes                           batches, their state and the table version
  resolve TOPIC                    the cluster a topic goes to, and the rule that chose it
  status                           connections, in-flight and held requests, upstream health
  flip BATCH | --topic T           move a batch (or one topic) to the target cluster
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
} as const;

type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = ['admin', 'token', 'json', 'help'];
const WRITE: readonly OptionName[] = [...GLOBAL, 'reason', 'dry-run', 'force'];
/** Which options each command accepts, so that e.g. `kmp routes --force` is a usage error, not silently ignored. */
const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionName[]>> = {
  serve: ['config', 'help'],
  routes: GLOBAL,
  resolve: GLOBAL,
  status: GLOBAL,
  audit: [...GLOBAL, 'limit'],
  ledger: [...GLOBAL, 'limit', 'topic'],
  inventory: [...GLOBAL, 'topic'],
  transactions: GLOBAL,
  flip: [...WRITE, 'topic'],
  rollback: [...WRITE, 'topic', 'all'],
  promote: WRITE,
  'sasl-credential': ['mechanism', 'iterations', 'help'],
  prepare: [...GLOBAL, 'apply', 'replication-factor', 'reason'],
  schemas: GLOBAL,
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
      const status = await client.status();
      print(status, () => formatStatus(status));
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
    case 'transactions': {
      expectArgs(command, args, 0);
      const view = (await client.get('/v1/transactions')) as TransactionsView;
      print(view, () => formatTransactions(view));
      return 0;
    }
    case 'flip':
    case 'rollback':
    case 'promote': {
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
