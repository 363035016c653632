// kmp command-line entry point. `kmp serve` runs the proxy; the other commands speak the admin API.
const [command] = process.argv.slice(2);

switch (command) {
  case 'serve':
    console.error('kmp serve: the proxy data path is not implemented yet (see issues #3 and #4).');
    process.exitCode = 2;
    break;
  default:
    console.error('usage: kmp serve --config FILE');
    process.exitCode = 2;
}
