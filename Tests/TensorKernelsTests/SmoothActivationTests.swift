import Foundation
import XCTest
import TensorKernels
import CActivations

/// The vectorized logistic kernels against the textbook formulas evaluated in double precision.
final class SmoothActivationTests: XCTestCase {
  /// Inputs covering the polynomial's range reduction (many binades, both signs), the clamp of
  /// e^−|x| near −87, values past it, the zeros and the infinities; 37 values, so the tail
  /// of the eight-lane loop is exercised too.
  var specialInputs: [Float] {
    [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 0.3466, -0.3466, 0.5, -0.5, 1, -1, 2.5, -2.5, 3, -3, 6, -6,
     10, -10, 17.3, -17.3, 30, -30, 86.9, -86.9, 87.5, -87.5, 88.8, -88.8, 100, -100, 1e6, -1e6,
     .infinity, -.infinity, 0.125]
  }

  func randomInputs(seed: UInt64) -> Tensor {
    var rng = SplitMix64(seed: seed)
    return rng.tensor([2, 7, 11, 13], scale: 12)  // 2002 values, not a multiple of 8
  }

  /// A relative error of 5e−7 (a few ulp), or an absolute 1e−35 where the kernels flush e^x
  /// below e^−87 to 0 (x · e^x for x down to −100); NaN and infinities exactly as the formula in
  /// IEEE arithmetic gives them (x · σ(x) at −∞ is −∞ · 0 = NaN, as in the exported graph).
  func assertClose(_ y: [Float], _ x: [Float], _ f: (Double) -> Double, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(y.count, x.count, file: file, line: line)
    for (yi, xi) in zip(y, x) {
      let expected = f(Double(xi))
      if expected.isNaN || expected.isInfinite {
        XCTAssert(expected.isNaN ? yi.isNaN : Double(yi) == expected, "\(what)(\(xi)) = \(yi), expected \(expected)",
                  file: file, line: line)
        continue
      }
      let error = abs(Double(yi) - expected)
      XCTAssert(error <= 5e-7 * abs(expected) || error <= 1e-35, "\(what)(\(xi)) = \(yi), expected \(expected)",
                file: file, line: line)
    }
  }

  func testSigmoidMatchesTheFormula() {
    let sigmoid = { (x: Double) in 1 / (1 + exp(-x)) }
    for x in [Tensor(shape: [specialInputs.count], data: specialInputs), randomInputs(seed: 31)] {
      let y = Kernels.sigmoid(x)
      XCTAssertEqual(y.shape, x.shape)
      assertClose(y.data, x.data, sigmoid, "sigmoid")
    }
  }

  func testSiLUMatchesTheFormula() {
    let silu = { (x: Double) in x * (1 / (1 + exp(-x))) }
    for x in [Tensor(shape: [specialInputs.count], data: specialInputs), randomInputs(seed: 32)] {
      assertClose(Kernels.silu(x).data, x.data, silu, "silu")
    }
  }

  func testHardSigmoidAndHardSwishMatchTheFormulas() {
    for x in [Tensor(shape: [specialInputs.count], data: specialInputs), randomInputs(seed: 33)] {
      for (alpha, beta) in [(Float(0.2), Float(0.5)), (1 / 6, 0.5), (-0.7, 0.1)] {
        let expected = x.data.map { v -> Float in Swift.max(0, Swift.min(1, alpha * v + beta)) }
        let y = Kernels.hardSigmoid(x, alpha: alpha, beta: beta).data
        for i in y.indices { XCTAssertEqual(y[i], expected[i], accuracy: 1e-6, "hardSigmoid(\(x.data[i]))") }
      }
      let hardSwish = { (v: Double) in v * Swift.max(0, Swift.min(1, v / 6 + 0.5)) }
      assertClose(Kernels.hardSwish(x).data, x.data, hardSwish, "hardSwish")
    }
  }

  func testNaNStaysNaN() {
    let x = Tensor(shape: [3], data: [1, .nan, -1])
    for y in [Kernels.sigmoid(x), Kernels.silu(x), Kernels.hardSwish(x), Kernels.hardSigmoid(x, alpha: 0.2, beta: 0.5)] {
      XCTAssert(y.data[1].isNaN)
      XCTAssertFalse(y.data[0].isNaN || y.data[2].isNaN)
    }
  }

  func testLargeTensorsSplitAcrossThreadsAgreeWithSmallOnes() {
    var rng = SplitMix64(seed: 34)
    let x = rng.tensor([1, 96, 112, 113], scale: 8)  // above the parallel threshold, odd length
    let y = Kernels.silu(x).data
    for i in stride(from: 0, to: x.count, by: 997) {
      XCTAssertEqual(y[i], Kernels.silu(Tensor(shape: [1], data: [x.data[i]])).data[0])
    }
    XCTAssertEqual(y.last, Kernels.silu(Tensor(shape: [1], data: [x.data.last!])).data[0])
  }

  /// Both compiled variants of the C kernels (baseline SSE2, and AVX2+FMA when this CPU has it)
  /// against the formulas, over the special and random inputs, out of place and in place.
  func testBothInstructionSetVariantsMatchTheFormulas() {
    typealias BufferKernel = (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
    let sigmoid = { (x: Double) in 1 / (1 + exp(-x)) }
    let silu = { (x: Double) in x * (1 / (1 + exp(-x))) }
    let variants: [(String, BufferKernel, (Double) -> Double)] = [
      ("sigmoid_baseline", { clrp_sigmoid_baseline($0, $1, $2) }, sigmoid),
      ("silu_baseline", { clrp_silu_baseline($0, $1, $2) }, silu),
      ("sigmoid_dispatched", { clrp_sigmoid($0, $1, $2) }, sigmoid),
      ("silu_dispatched", { clrp_silu($0, $1, $2) }, silu),
    ]
    for x in [specialInputs, randomInputs(seed: 35).data] {
      for (name, kernel, formula) in variants {
        for count in [x.count, 0, 1, 7, 8, 9] where count <= x.count {
          var y = [Float](repeating: .nan, count: x.count)
          x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { kernel(xb.baseAddress, $0.baseAddress, count) } }
          assertClose(Array(y[..<count]), Array(x[..<count]), formula, name)
          XCTAssert(y[count...].allSatisfy { $0.isNaN }, "\(name) wrote past count \(count)")
        }
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { kernel(UnsafePointer($0.baseAddress), $0.baseAddress, $0.count) }
        assertClose(inPlace, x, formula, name + " in place")
      }
    }
  }

  /// The dispatch picks AVX2+FMA exactly when the kernel reports both CPU flags.
  func testDispatchFollowsTheCPUFlags() throws {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
      throw XCTSkip("no /proc/cpuinfo flags line")
    }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    XCTAssertEqual(Kernels.smoothActivationsUseAVX2, flags.contains("avx2") && flags.contains("fma"))
  }
}
