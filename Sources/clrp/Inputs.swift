import Foundation
import Relevance

/// Reads an image tensor for a model input of `shape` (batch 1), batch axis optional.
func loadImageTensor(_ path: String, shape: [Int]) throws -> Tensor {
  let tensor = try readInputTensor(path)
  if tensor.shape == shape { return tensor }
  if tensor.shape == Array(shape.dropFirst()) { return tensor.reshaped(shape) }
  throw ModelError(file: path, "has shape \(tensor.shape); the model takes \(Array(shape.dropFirst())) (batch axis optional)")
}

/// A seeded random image: pixels uniform in the preprocessing range, normalized; else standard-ish noise.
func randomImage(_ shape: [Int], _ preprocessing: Preprocessing?) -> Tensor {
  var state: UInt64 = 2018
  func next() -> Float {
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return Float(state >> 40) / Float(1 << 24)
  }
  let channels = shape.count > 1 ? shape[1] : 1
  let spatial = shape.elementCount / max(channels, 1)
  var data = [Float](repeating: 0, count: shape.elementCount)
  for c in 0..<channels {
    for i in 0..<spatial {
      let u = next()
      if let p = preprocessing, [1, channels].contains(p.mean.count), [1, channels].contains(p.std.count) {
        let mean = p.mean.count == 1 ? p.mean[0] : p.mean[c], std = p.std.count == 1 ? p.std[0] : p.std[c]
        let pixel = p.range.lowerBound + Double(u) * (p.range.upperBound - p.range.lowerBound)
        data[c * spatial + i] = Float((pixel - mean) / std)
      } else {
        data[c * spatial + i] = 2 * u - 1
      }
    }
  }
  return Tensor(shape: shape, data: data)
}

/// Reads a .npy input tensor and refuses what no model can be run on: an empty array, and
/// NaN or infinite values (ReLU would silently turn NaN into 0 and give confident logits).
func readInputTensor(_ path: String) throws -> Tensor {
  try checkRunnable(NPY.read(path: path), source: path)
}

/// Refuses an empty tensor or one with NaN or infinite values; `source` names it in the error.
@discardableResult
func checkRunnable(_ tensor: Tensor, source: String) throws -> Tensor {
  guard tensor.count > 0 else {
    throw ModelError(file: source, "is empty (shape \(tensor.shape)): there is no image to run")
  }
  let bad = tensor.data.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
  guard bad == 0 else {
    let nan = tensor.data.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
    throw ModelError(file: source, "has \(bad) non-finite value(s) (NaN or infinity): \(nan) NaN, \(bad - nan) infinite, of \(tensor.count) values")
  }
  return tensor
}

/// Sets the library's memory budget from a `--max-memory` value (e.g. `8G`, `512M`).
func applyMemoryBudget(_ text: String?) throws {
  guard let text else { return }
  MemoryBudget.current = try MemoryBudget.parse(text)
}

/// Refuses an output path that is (after resolving links) one of the files read.
func refuseOverwriting(_ output: String, _ readFiles: [String]) throws {
  func resolved(_ path: String) -> String? {
    guard let r = realpath(path, nil) else { return nil }
    defer { free(r) }
    return String(cString: r)
  }
  guard let target = resolved(output) else { return }
  for file in readFiles where resolved(file) == target {
    throw ModelError("--output \(output) is the same file as \(file), which clrp reads; choose another output path")
  }
}
