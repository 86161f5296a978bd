/** ONNX models: export from trained trees, load and check, score (async and synchronous). */
export { gbdtToOnnx, type OnnxExportOptions } from './onnxExport.ts';
export { INPUT_NAME, META_FEATURES, META_LABEL, META_METRICS, META_PARAMS, META_VERSION, ML_DOMAIN, OUTPUT_NAME, onnx, type OnnxTypes } from './onnxFormat.ts';
export { loadOnnxModel, type LoadOptions, type LoadedModel } from './onnxLoad.ts';
export { scoreWithOnnx } from './onnxScore.ts';
export { SyncOnnxSession } from './syncSession.ts';
export { loadedFileModels, onnxFileModels } from './fileModels.ts';
