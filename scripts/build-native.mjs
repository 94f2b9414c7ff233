// Builds the native kernel addon with node-gyp at install time. If the build fails (no compiler,
// no Node headers), the install still succeeds and the engine announces at start-up that it runs on
// the pure-TypeScript reference kernels, which are correct but about 50x slower.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const args = ["rebuild"];
if (!process.env.npm_config_nodedir && existsSync("/usr/include/node/node_api.h")) {
  args.push("--nodedir=/usr");
}
const gyp = process.env.npm_config_node_gyp;
const command = gyp ? process.execPath : "npx";
const commandArgs = gyp ? [gyp, ...args] : ["--no-install", "node-gyp", ...args];
const result = spawnSync(command, commandArgs, { stdio: "inherit" });
if (result.status !== 0) {
  console.warn(
    "alter: WARNING: the native kernel addon did not build (see the compiler output above).\n" +
      "alter will run on its TypeScript reference kernels, which are much slower.\n" +
      "Fix: install a C++ compiler and Node's headers (Debian: apt-get install g++ make python3),\n" +
      "then run `npm rebuild alter` or `node scripts/build-native.mjs`.",
  );
}
