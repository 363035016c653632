// The bare pipe: the least a Node TCP relay can do between a Kafka client and a broker. Every accepted socket gets
// its own upstream connection, bytes are piped both ways, and nothing is parsed. The broker's PIPE listener
// advertises this relay's address, so a client that bootstraps here is told to stay here (scripts/kafka/testbed.ts).
// It runs as its own process (bench/lib/bare-pipe.ts starts it) so its CPU can be read from /proc exactly like the
// proxy's, and so it competes for the two cores the same way.
//
//   node bench/lib/bare-pipe-relay.ts <listen host:port> <upstream host:port>
//
// Prints one line `listening <host>:<port>` on stdout once it accepts connections; exits on SIGTERM or when its
// stdin ends.
import net from 'node:net';

function hostPort(arg: string | undefined, what: string): { host: string; port: number } {
  const m = arg === undefined ? null : /^(.+):(\d+)$/.exec(arg);
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`bare-pipe-relay: ${what} must be host:port, got ${JSON.stringify(arg)}\n` +
      'usage: node bench/lib/bare-pipe-relay.ts <listen host:port> <upstream host:port>\n');
    process.exit(2);
  }
  return { host: m[1], port };
}

const listen = hostPort(process.argv[2], 'the listen address');
const upstream = hostPort(process.argv[3], 'the upstream address');

const server = net.createServer({ noDelay: true }, (client) => {
  // Kafka clients and the proxy both set TCP_NODELAY; the relay does too, so it adds no Nagle delay of its own.
  const broker = net.connect({ ...upstream, noDelay: true });
  // Either side closing or failing ends the pair; an error is not worth a message (clients reconnect).
  const close = (): void => {
    client.destroy();
    broker.destroy();
  };
  client.on('error', close).on('close', close);
  broker.on('error', close).on('close', close);
  client.pipe(broker);
  broker.pipe(client);
});

server.on('error', (err) => {
  process.stderr.write(`bare-pipe-relay: ${err.message}\n`);
  process.exit(1);
});
server.listen(listen.port, listen.host, () => process.stdout.write(`listening ${listen.host}:${listen.port}\n`));
process.on('SIGTERM', () => process.exit(0));
// The bench holds our stdin open: when it ends, the bench is gone (even if it crashed before stopping us), and
// a leftover relay would keep the advertised port busy for the next run.
process.stdin.on('end', () => process.exit(0)).on('close', () => process.exit(0)).resume();
