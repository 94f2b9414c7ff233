/**
 * @file `alter train-classifier`: trains the small Fashion-MNIST CNN whose penultimate features feed
 * the in-domain Fréchet distance / KID and whose predictions give class accuracy of samples.
 * Writes config.json + model.safetensors (after every epoch, atomically) and metrics.json.
 */
import type { Command } from "commander";
import { loadFashionMnist } from "../../data/fashion-mnist.js";
import {
  DEFAULT_CLASSIFIER_CONFIG,
  DEFAULT_CLASSIFIER_TRAINING,
  trainClassifier,
  writeClassifierMetrics,
} from "../../metrics/classifier.js";
import { UserError } from "../errors.js";
import { floatOption, intOption } from "../options.js";

function channelsOption(value: string): [number, number, number] {
  const parts = value.split(",").map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length !== 3 || !nums.every((n, i) => /^\d+$/.test(parts[i]!) && n >= 8 && n % 8 === 0)) {
    throw new UserError(`--channels must be three comma-separated multiples of 8 (e.g. 24,48,96), got "${value}"`);
  }
  return nums as [number, number, number];
}

export function registerTrainClassifier(program: Command): void {
  const d = DEFAULT_CLASSIFIER_TRAINING;
  program
    .command("train-classifier")
    .description("train the Fashion-MNIST CNN used as the feature extractor for Fréchet distance / KID and class accuracy")
    .option("--data <dir>", "folder with the Fashion-MNIST IDX files, train and t10k (default: $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    .requiredOption("--out <dir>", "output folder: config.json, model.safetensors, metrics.json")
    .option("--epochs <n>", "training epochs over the train split", intOption("--epochs"), d.epochs)
    .option("--batch <n>", "batch size", intOption("--batch"), d.batchSize)
    .option("--lr <x>", "peak learning rate (AdamW, warmup then cosine decay)", floatOption("--lr", 0, 1, true), d.lr)
    .option("--weight-decay <x>", "AdamW decoupled weight decay", floatOption("--weight-decay", 0, 1), d.weightDecay)
    .option("--channels <list>", "widths of the three conv stages", channelsOption, [...DEFAULT_CLASSIFIER_CONFIG.channels])
    .option("--no-augment", "disable random flips and 2-pixel shifts")
    .option("--seed <n>", "random seed", intOption("--seed", 0), d.seed)
    .action((o: Record<string, unknown>) => {
      const dataDir = o.data as string | undefined;
      const outDir = o.out as string;
      const train = loadFashionMnist(dataDir, "train");
      const test = loadFashionMnist(dataDir, "test");
      const channels = o.channels as [number, number, number];
      const epochs = o.epochs as number, batch = o.batch as number, lr = o.lr as number, seed = o.seed as number;
      const weightDecay = o.weightDecay as number, augment = o.augment as boolean;
      process.stderr.write(
        `alter: training the classifier on ${train.count} images (test ${test.count}), ${epochs} epochs, batch ${batch}, lr ${lr}, channels ${channels.join(",")}\n`,
      );
      const result = trainClassifier({
        train, test, outDir, epochs, batchSize: batch, lr, weightDecay, seed, augment,
        config: { channels },
        onEpoch: (e) => {
          process.stderr.write(
            `alter: epoch ${e.epoch}/${epochs}  train loss ${e.trainLoss.toFixed(4)}  train acc ${(100 * e.trainAccuracy).toFixed(2)}%  ` +
              `test acc ${(100 * e.testAccuracy).toFixed(2)}%  (${e.seconds.toFixed(0)} s)\n`,
          );
        },
      });
      const command = [
        "alter train-classifier",
        ...(dataDir !== undefined ? [`--data ${dataDir}`] : []),
        `--out ${outDir}`, `--epochs ${epochs}`, `--batch ${batch}`, `--lr ${lr}`, `--weight-decay ${weightDecay}`,
        `--channels ${channels.join(",")}`, ...(augment ? [] : ["--no-augment"]), `--seed ${seed}`,
      ].join(" ");
      writeClassifierMetrics(outDir, {
        test_accuracy: result.testAccuracy,
        test_images: test.count,
        train_images: train.count,
        train_seconds: Math.round(result.seconds * 10) / 10,
        epochs: result.epochs,
        steps: result.steps,
        final_train_loss: result.finalLoss,
        parameters: result.model.numParameters(),
        feature_dim: result.model.config.feature_dim,
        command,
        date: new Date().toISOString(),
      });
      process.stdout.write(`test accuracy ${(100 * result.testAccuracy).toFixed(2)}% (${test.count} images); model written to ${outDir}\n`);
    });
}
