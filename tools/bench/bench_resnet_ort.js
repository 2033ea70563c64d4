// ONNX Runtime side of tools/bench/resnet.sh: the ResNet encoder exported by
// `bench_resnet.py export` run by npm's onnxruntime-node (its bundled CPU
// library), graph optimisations on, intra-op threads = THREADS, one inter-op
// thread. Input: the fixed pseudo-random 1x3xHxW image of bench_resnet.c (same
// generator), so the output checksum must match saccade's. 2 warm-ups, REPS
// timed runs; prints best/median ms, the best process CPU time of one forward,
// max RSS (KiB) and the checksum.
//   NODE_PATH=DIR/node_modules node bench_resnet_ort.js MODEL.onnx [threads=2] [reps=10] [H=256] [W=256]
"use strict";
const ort = require("onnxruntime-node");

async function main() {
  const [path, threadsArg, repsArg, hArg, wArg] = process.argv.slice(2);
  if (!path) {
    console.error("usage: bench_resnet_ort.js MODEL.onnx [threads=2] [reps=10] [H=256] [W=256]");
    process.exit(2);
  }
  const threads = Number(threadsArg || 2), reps = Math.max(1, Number(repsArg || 10));
  const H = Number(hArg || 256), W = Number(wArg || 256);
  const ortModel = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const n = 3 * H * W, x = new Float32Array(n);
  let s = 12345n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < n; i++) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & mask;
    x[i] = Number((s >> 40n) & 0xffffn) / 32768 - 1;
  }
  const feeds = { [ortModel.inputNames[0]]: new ort.Tensor("float32", x, [1, 3, H, W]) };
  let out;
  for (let r = 0; r < 2; r++) out = await ortModel.run(feeds);
  const times = [];
  let bestCpu = Infinity;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    out = await ortModel.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e3);
  }
  times.sort((a, b) => a - b);
  const y = out[ortModel.outputNames[0]];
  let sum = 0;
  for (let i = 0; i < y.data.length; i++) sum += y.data[i];
  const version = require("onnxruntime-node/package.json").version;
  console.log(
    `onnxruntime threads ${threads}: best_ms ${times[0].toFixed(1)} ` +
      `median_ms ${times[Math.floor(reps / 2)].toFixed(1)} cpu_ms ${bestCpu.toFixed(1)} ` +
      `maxrss_kb ${process.resourceUsage().maxRSS} checksum ${sum.toPrecision(6)} ` +
      `onnxruntime-node ${version} out [${y.dims.join(",")}]`
  );
}

main().catch((e) => {
  console.error(`bench_resnet_ort: ${e.message}`);
  process.exit(1);
});
