import Foundation
import XCTest
import TensorKernels
import CKernels

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

  /// Every compiled variant of the C kernels (baseline SSE2, AVX2+FMA and AVX-512 where this CPU
  /// has them; `_at_level` lowers a level the CPU lacks) against the formulas, over the special
  /// and random inputs, out of place and in place, for lengths around the vector widths.
  func testEveryInstructionSetVariantMatchesTheFormulas() {
    typealias BufferKernel = (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
    let sigmoid = { (x: Double) in 1 / (1 + exp(-x)) }
    let silu = { (x: Double) in x * (1 / (1 + exp(-x))) }
    var variants: [(String, BufferKernel, (Double) -> Double)] = [
      ("sigmoid_dispatched", { clrp_sigmoid($0, $1, $2) }, sigmoid),
      ("silu_dispatched", { clrp_silu($0, $1, $2) }, silu),
    ]
    for (level, name) in instructionSetLevels {
      variants.append(("sigmoid_\(name)", { clrp_sigmoid_at_level(Int32(level), $0, $1, $2) }, sigmoid))
      variants.append(("silu_\(name)", { clrp_silu_at_level(Int32(level), $0, $1, $2) }, silu))
    }
    for x in [specialInputs, randomInputs(seed: 35).data] {
      for (name, kernel, formula) in variants {
        for count in [x.count, 0, 1, 7, 8, 9, 15, 16, 17, 31, 33] where count <= x.count {
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

  /// Every compiled variant of HardSwish and HardSigmoid against the formulas (HardSigmoid within
  /// 1e−6 absolute, as `testHardSigmoidAndHardSwishMatchTheFormulas`), for lengths around the
  /// vector widths; nothing written past `count`.
  func testEveryInstructionSetVariantOfTheHardActivationsMatchesTheFormulas() {
    let hardSwish = { (v: Double) in v * Swift.max(0, Swift.min(1, v / 6 + 0.5)) }
    for x in [specialInputs, randomInputs(seed: 36).data] {
      for (level, name) in instructionSetLevels {
        for count in [x.count, 0, 1, 7, 8, 9, 15, 16, 17, 31, 33] where count <= x.count {
          var y = [Float](repeating: .nan, count: x.count)
          clrp_hard_swish_at_level(Int32(level), x, &y, count)
          assertClose(Array(y[..<count]), Array(x[..<count]), hardSwish, "hardSwish_\(name)")
          XCTAssert(y[count...].allSatisfy { $0.isNaN }, "hardSwish_\(name) wrote past count \(count)")
          for (alpha, beta) in [(Float(0.2), Float(0.5)), (-0.7, 0.1)] {
            var z = [Float](repeating: .nan, count: x.count)
            clrp_hard_sigmoid_at_level(Int32(level), x, &z, count, alpha, beta)
            for i in 0..<count {
              let expected = Swift.max(0, Swift.min(1, Double(alpha) * Double(x[i]) + Double(beta)))
              XCTAssertEqual(Double(z[i]), expected, accuracy: 1e-6, "hardSigmoid_\(name)(\(x[i]))")
            }
            XCTAssert(z[count...].allSatisfy { $0.isNaN }, "hardSigmoid_\(name) wrote past count \(count)")
          }
        }
      }
    }
    for (level, name) in instructionSetLevels {
      var y: [Float] = [0, 0, 0]
      clrp_hard_swish_at_level(Int32(level), [1, .nan, -1], &y, 3)
      XCTAssert(y[1].isNaN && !y[0].isNaN && !y[2].isNaN, "hardSwish_\(name): NaN")
      clrp_hard_sigmoid_at_level(Int32(level), [1, .nan, -1], &y, 3, 0.2, 0.5)
      XCTAssert(y[1].isNaN && !y[0].isNaN && !y[2].isNaN, "hardSigmoid_\(name): NaN")
    }
  }

  /// A fine grid over [−90, 90] (400 001 points) for every variant: the reciprocal estimate of
  /// the AVX-512 variant must keep the same bound as the division.
  func testEveryVariantHoldsTheBoundOnAFineGrid() {
    let x = (0..<400_001).map { Float(-90 + Double($0) * 4.5e-4) }
    let sigmoid = { (x: Double) in 1 / (1 + exp(-x)) }
    let silu = { (x: Double) in x * (1 / (1 + exp(-x))) }
    for (level, name) in instructionSetLevels {
      var y = [Float](repeating: 0, count: x.count)
      clrp_sigmoid_at_level(Int32(level), x, &y, x.count)
      assertClose(y, x, sigmoid, "sigmoid_\(name)")
      clrp_silu_at_level(Int32(level), x, &y, x.count)
      assertClose(y, x, silu, "silu_\(name)")
    }
  }

  /// The dispatch picks the highest level whose CPU flags /proc/cpuinfo lists.
  func testDispatchFollowsTheCPUFlags() throws {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
      throw XCTSkip("no /proc/cpuinfo flags line")
    }
    if ProcessInfo.processInfo.environment["CLRP_KERNEL_LEVEL"] != nil { throw XCTSkip("CLRP_KERNEL_LEVEL caps the level") }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    let avx2 = flags.contains("avx2") && flags.contains("fma")
    let expected = avx2 && flags.contains("avx512f") ? "avx512" : avx2 ? "avx2" : "baseline"
    XCTAssertEqual(Kernels.cKernelInstructionSet, expected)
  }
}
