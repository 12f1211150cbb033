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
  device.lost.then((info) => onLost(new PywgslError(`The GPU device was lost (${info.message || info.reason}): the ` +
    "model's buffers are gone with it. Reload the model to go on.", { kind: "device-lost" })));
  const info = adapter.info || {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") || "WebGPU adapter";
  // Tint (Chromium) needs `enable subgroups;`, naga (Firefox) rejects it: the manifest has both texts.
  const wgslTarget = navigator.userAgent.includes("Firefox") ? "naga" : "tint";
  return { adapter, device, features: new Set(features), limits, name, wgslTarget };
}
