/** ONNX models: export from trained trees, load and check, score (async, and synchronously for streams), and the runs' model-file provider. */
export { loadedFileModels, onnxFileModels } from './fileModels.ts';
export { gbdtToOnnx, type OnnxExportOptions } from './onnxExport.ts';
export { INPUT_NAME, META_METRICS, META_PROFILE, OUTPUT_NAME, onnx } from './onnxFormat.ts';
export { loadOnnxModel, type LoadOptions, type LoadedModel } from './onnxLoad.ts';
export { scoreWithOnnx } from './onnxScore.ts';
export { SyncOnnxSession } from './syncSession.ts';
