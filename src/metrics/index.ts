/**
 * @file Image-quality metrics that run offline on a CPU: Fréchet distance and KID on any feature
 * set, k-NN precision/recall, and SSIM/PSNR for fidelity between paired images.
 *
 * The feature-based metrics take plain row-major arrays (rows are samples). Name results after
 * what they really are: on this project's own feature extractor, the Fréchet distance is not
 * "FID" (which means Inception-v3 pool3 features), e.g. "Fréchet distance (FMNIST classifier)".
 */

/** One reported number. */
export interface MetricResult {
  /** What was measured, including the feature extractor where there is one. */
  name: string;
  value: number;
  /** True for similarity scores (SSIM, PSNR, precision, recall); false for distances (Fréchet, KID). */
  higherIsBetter: boolean;
}

export {
  assertFinite,
  asymmetry,
  clampEigenvalues,
  columnMeans,
  covariance,
  DEFAULT_PSD_TOLERANCE,
  identity,
  matmul,
  reconstructSymmetric,
  sqrtmSymmetric,
  symmetricEigen,
  symmetrize,
  trace,
  transpose,
  type EigenOptions,
  type EigenResult,
} from "./linalg.js";
export {
  featureStats,
  frechetDistance,
  frechetFromFeatures,
  frechetTerms,
  traceSqrtProduct,
  type FeatureStats,
  type FrechetOptions,
  type FrechetTerms,
} from "./frechet.js";
export {
  kernelDistance,
  kernelInceptionDistance,
  mmd2Unbiased,
  type GramPrecision,
  type KidOptions,
  type KidResult,
} from "./kid.js";
export {
  knnRadiiSquared,
  manifoldCoverage,
  precisionRecall,
  type PrecisionRecallOptions,
  type PrecisionRecallResult,
} from "./precision-recall.js";
export {
  gaussianWindow,
  ssim,
  SSIM_K1,
  SSIM_K2,
  SSIM_SIGMA,
  SSIM_WINDOW_SIZE,
  type ImageShape,
  type SsimOptions,
  type SsimResult,
} from "./ssim.js";
export { psnr, psnrFromMse, type PsnrOptions, type PsnrResult } from "./psnr.js";
