// The WebGPU device: the adapter's own binding and buffer limits, and the optional features the
// kernels have variants for. Every failure becomes a PywgslError a page can show.
import { PywgslError } from "./errors.js";

const OPTIONAL_FEATURES = ["shader-f16", "subgroups"]; // kernel variants are chosen by these
const DIAGNOSTIC_FEATURES = ["timestamp-query"]; // the HUD's GPU time per kernel, where the adapter has it

export async function openDevice({ onLost = () => {} } = {}) {
  if (!("gpu" in navigator)) {
    throw new PywgslError("This browser has no WebGPU (navigator.gpu is missing): use a browser with WebGPU enabled.",
      { kind: "no-webgpu" });
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new PywgslError("WebGPU is present but no adapter is available (no usable GPU or software renderer).",
      { kind: "no-adapter" });
  }
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const limits = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  const diagnostics = DIAGNOSTIC_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredFeatures: [...features, ...diagnostics], requiredLimits: limits });
  const lost = device.lost.then((info) => {
    const error = new PywgslError(`The GPU device was lost (${info.message || info.reason}): the ` +
      "model's buffers are gone with it. Reload the model to go on.", { kind: "device-lost" });
    onLost(error);
    return error;
  });
  const info = adapter.info || {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") || "WebGPU adapter";
  // Tint (Chromium) needs `enable subgroups;`, naga (Firefox) rejects it: the manifest has both texts.
  const wgslTarget = navigator.userAgent.includes("Firefox") ? "naga" : "tint";
  return { adapter, device, features: new Set(features), limits, name, wgslTarget, lost };
}

// What a failure during GPU work means: a lost device makes the work in flight fail first with its own
// error (Firefox rejects a pending mapAsync with "Buffer unmapped" before `device.lost` settles), so
// the loss, when it follows within a moment, is the failure to report.
export async function explainFailure(gpu, error, waitMs = 1000) {
  if (!gpu || error instanceof PywgslError) return error; // our own errors already say what happened
  const timeout = new Promise((resolve) => { setTimeout(() => resolve(null), waitMs); });
  return (await Promise.race([gpu.lost, timeout])) || error;
}
