import XCTest
import TensorKernels
import CKernels

/// SplitMix64: a tiny deterministic generator, so every test sees the same data on every run.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [-1, 1).
  mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }

  /// Uniform integer in `range`.
  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(next() % UInt64(range.count))
  }

  mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in scale * unit() })
  }

  /// Small integers in -levels...levels, so that ties are frequent.
  mutating func coarseTensor(_ shape: [Int], levels: Int) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(int(-levels...levels)) })
  }

  mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in unit() } }
}

/// A reference result in double precision; `magnitude[i]` bounds the size of the terms that
/// were summed into `values[i]` (for a plain value, `|values[i]|`).
struct Reference {
  var shape: [Int]
  var values: [Double]
  var magnitude: [Double]

  init(shape: [Int], values: [Double], magnitude: [Double]? = nil) {
    precondition(values.count == shape.reduce(1, *))
    self.shape = shape
    self.values = values
    self.magnitude = magnitude ?? values.map(abs)
  }
}

/// Asserts `actual` matches `expected` elementwise within `rtol` relative to each element's magnitude.
func assertClose(_ actual: Tensor, _ expected: Reference, rtol: Double = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
  XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
  guard actual.shape == expected.shape else { return }
  var failures = 0
  for i in 0..<actual.count {
    let a = Double(actual.data[i]), e = expected.values[i]
    let tol = rtol * max(expected.magnitude[i], abs(e)) + 1e-30
    if !(abs(a - e) <= tol) {
      failures += 1
      if failures <= 5 {
        XCTFail("\(message) element \(i): got \(a), expected \(e) (tolerance \(tol))", file: file, line: line)
      }
    }
  }
  if failures > 5 { XCTFail("\(message): \(failures) mismatching elements in total", file: file, line: line) }
}

func assertClose(_ a: Double, _ b: Double, magnitude: Double, rtol: Double = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
  XCTAssertLessThanOrEqual(abs(a - b), rtol * magnitude, "\(message): \(a) vs \(b)", file: file, line: line)
}

/// `Σ a_i b_i` in double precision and `Σ |a_i b_i|`.
func dot(_ a: [Float], _ b: [Float]) -> (value: Double, magnitude: Double) {
  precondition(a.count == b.count)
  var s = 0.0, m = 0.0
  for i in a.indices { let p = Double(a[i]) * Double(b[i]); s += p; m += abs(p) }
  return (s, m)
}

/// Row-major strides of `shape`.
func strides(_ shape: [Int]) -> [Int] {
  var s = [Int](repeating: 1, count: shape.count)
  for k in stride(from: shape.count - 2, through: 0, by: -1) { s[k] = s[k + 1] * shape[k + 1] }
  return s
}

/// Every multi-index of `shape` in row-major order.
func allIndices(_ shape: [Int]) -> [[Int]] {
  var result: [[Int]] = [[]]
  for d in shape { result = result.flatMap { prefix in (0..<d).map { prefix + [$0] } } }
  return result
}

/// Output length of a sliding window along one axis: floor mode, or ceil mode with the
/// onnxruntime/PyTorch rule that a window must start inside the input or the begin padding.
func referenceOutputLength(_ n: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int,
                           ceil: Bool) -> Int {
  let extent = Double(n + padBegin + padEnd - (kernel - 1) * dilation - 1) / Double(stride)
  var out = Int(ceil ? extent.rounded(.up) : extent.rounded(.down)) + 1
  if ceil && (out - 1) * stride >= n + padBegin { out -= 1 }
  return max(out, 0)
}

/// The instruction-set levels of the C kernels (CKernels.h) with their names, for tests that run
/// every variant; a level above the CPU's runs the CPU's own (`_at_level` lowers it).
let instructionSetLevels: [(level: Int, name: String)] = [
  (CLRP_LEVEL_BASELINE, "baseline"), (CLRP_LEVEL_AVX2, "avx2"), (CLRP_LEVEL_AVX512, "avx512"),
]
