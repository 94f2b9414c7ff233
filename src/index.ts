/**
 * @file alter as a library: the tensor engine, layers, diffusers-compatible models, schedulers,
 * data loading and training. Layers build on one another in this order:
 * engine -> nn -> models -> diffusion -> (alter -> metrics) -> cli.
 */
export * as engine from "./engine/index.js";
export { Tensor, Generator, scope, keep, noGrad, withMetaTensors } from "./engine/index.js";
export { Module, parameter, StateDictError } from "./nn/module.js";
export { Linear, Conv2d, GroupNorm, LayerNorm, Embedding, Dropout } from "./nn/layers.js";
export { AdamW, SGD, clipGradNorm } from "./nn/optim.js";
export { EMA } from "./nn/ema.js";
export { constantWithWarmup, cosineWithWarmup } from "./nn/schedule.js";
export { readSafetensors, writeSafetensors, SafetensorsFile, SafetensorsError } from "./nn/safetensors.js";
export { MacCounter } from "./nn/macs.js";
export { parseUNetConfig, readUNetConfig, ConfigError, type UNet2DConditionConfig } from "./models/config.js";
export { UNet2DConditionModel } from "./models/unet-2d-condition.js";
export { ClassEmbedder } from "./models/embeddings.js";
export { denseExecutor, type LayerExecutor } from "./models/layer-executor.js";
export { loadModelFolder, saveModelFolder } from "./models/pretrained.js";
export { createScheduler, readSchedulerConfig, writeSchedulerConfig, type Scheduler } from "./diffusion/scheduler.js";
export { sampleImages } from "./diffusion/pipeline.js";
export { trainTeacher } from "./diffusion/train-teacher.js";
export { loadFashionMnist, loadImageDataset, FASHION_MNIST_CLASSES } from "./data/fashion-mnist.js";
export { BatchLoader } from "./data/loader.js";
