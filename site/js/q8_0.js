// The JavaScript CPU reference for Q8_0 (gate D): blocks of 32 values in 34 bytes {f16 d; i8 qs[32]}.
import { float16BitsToFloat32 } from "./executor.js";

/** y = W x for `rows` rows of `k` values stored as Q8_0 bytes, accumulated in float64. */
export function q8_0Matvec(bytes, x, rows, k) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = k / 32;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let b = 0; b < blocks; b++) {
      const at = (r * blocks + b) * 34;
      const d = Math.fround(float16BitsToFloat32(view.getUint16(at, true)));
      for (let j = 0; j < 32; j++) acc += Math.fround(d * view.getInt8(at + 2 + j)) * x[b * 32 + j];
    }
    y[r] = acc;
  }
  return y;
}

/** The gate's input vector, the same in Python (host/gates.py gate_x): exact in float32. */
export function gateX(k) {
  const x = new Float32Array(k);
  for (let i = 0; i < k; i++) x[i] = (((i * 37) % 101) - 50) / 50;
  return x;
}
