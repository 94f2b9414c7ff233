// Builds the native kernel addon with node-gyp at install time. If the build fails (no compiler,
// no Node headers), the install still succeeds and the engine announces at start-up that it runs on
// the pure-TypeScript reference kernels, which are correct but about 50x slower.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const args = ["rebuild"];
if (!process.env.npm_config_nodedir && existsSync("/usr/include/node/node_api.h")) {
  args.push("--nodedir=/usr");
}
// npm sets npm_config_node_gyp to its bundled node-gyp during install; when run by hand, find
// the copy bundled with the npm that is on PATH.
function findNodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const root = spawnSync("npm", ["root", "-g"], { encoding: "utf8" }).stdout?.trim();
  const bundled = root ? join(root, "npm", "node_modules", "node-gyp", "bin", "node-gyp.js") : "";
  return existsSync(bundled) ? bundled : null;
}

const gyp = findNodeGyp();
const result = gyp
  ? spawnSync(process.execPath, [gyp, ...args, "-j", "max"], { stdio: "inherit" })
  : { status: 1 };
if (gyp === null) console.warn("alter: node-gyp not found (it ships with npm).");
if (result.status !== 0) {
  console.warn(
    "alter: WARNING: the native kernel addon did not build (see the compiler output above).\n" +
      "alter will run on its TypeScript reference kernels, which are much slower.\n" +
      "Fix: install a C++ compiler and Node's headers (Debian: apt-get install g++ make python3),\n" +
      "then run `npm rebuild alter` or `node scripts/build-native.mjs`.",
  );
}
