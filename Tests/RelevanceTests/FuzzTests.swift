import Foundation
import XCTest
@testable import Relevance

/// Seeded mutations of the committed models, rule files, a preprocessing file and NPY inputs,
/// run through the library entry points in-process (load + canonicalize + forward; rule set,
/// preprocessing and NPY parsing). Each mutant ends with a result or a thrown `ModelError`
/// (a crash fails the whole test process), within a time bound.
final class FuzzTests: XCTestCase {
  static let timeBound = 2.0

  /// Runs `body`; fails unless it returns or throws a ModelError, within `timeBound` seconds.
  /// Returns whether it threw.
  @discardableResult
  func survive(_ what: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> Bool {
    let start = DispatchTime.now().uptimeNanoseconds
    defer {
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      XCTAssertLessThan(seconds, Self.timeBound, "\(what) took \(seconds) s", file: file, line: line)
    }
    do {
      try body()
      return false
    } catch is ModelError {
      return true
    } catch {
      XCTFail("\(what): not a ModelError: \(error)", file: file, line: line)
      return true
    }
  }

  /// Byte flips (1 to 8 bytes), truncations and, for a few, a run of 0xFF bytes.
  static func mutants(of bytes: [UInt8], count: Int, rng: inout SeededRandom) -> [[UInt8]] {
    (0..<count).map { i in
      var m = bytes
      switch i % 4 {
      case 0, 1:
        for _ in 0..<rng.int(1...8) { m[rng.int(0...(m.count - 1))] ^= UInt8(rng.int(1...255)) }
      case 2:
        m = Array(m.prefix(rng.int(0...(m.count - 1))))
      default:
        let at = rng.int(0...(m.count - 1))
        for j in at..<min(m.count, at + rng.int(1...10)) { m[j] = 0xFF }
      }
      return m
    }
  }

  /// Load, canonicalize for one image (a small budget, so a mutated size is refused quickly)
  /// and run on seeded data.
  static func run(_ model: Model) throws {
    let budget = MemoryBudget(bytes: 256 << 20)
    let graph = try Canonicalizer.canonicalize(model.imported, inputShape: model.inputShape(batch: 1), budget: budget)
    let plan = try ForwardPlan(graph: graph, budget: budget)
    var rng = SeededRandom(seed: 3)
    _ = try plan.run(rng.tensor(graph.shapes[graph.input]!))
  }

  func testMutatedModels() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-fuzz-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var rng = SeededRandom(seed: 77)
    for (name, count) in [("keras_tf2onnx_small", 40), ("residual_dynamo", 40), ("vgg16_small", 12)] {
      let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/\(name).onnx"))))
      var ran = 0
      for (i, mutant) in Self.mutants(of: bytes, count: count, rng: &rng).enumerated() {
        let path = dir.appendingPathComponent("\(name)_\(i).onnx").path
        try Data(mutant).write(to: URL(fileURLWithPath: path))
        if !survive(path, { try Self.run(try Model(path: path)) }) { ran += 1 }
      }
      // Flips in weight bytes leave a runnable model: the forward pass is exercised too.
      XCTAssertGreaterThan(ran, 0, name)
      print("\(name): \(ran) of \(count) mutants ran, the others were rejected")
    }
  }

  /// Structural edits of a loaded graph: huge, zero and negative dimensions in the input and
  /// the constants, huge conv/pool windows.
  func testStructurallyEditedGraphs() throws {
    let model = try Model(path: Fixtures.path("models/keras_tf2onnx_small.onnx"))
    let original = model.imported
    let budget = MemoryBudget(bytes: 256 << 20)
    var rejected = 0, attempts = 0
    func attempt(_ what: String, _ graph: Graph, shape: [Int]? = nil) {
      attempts += 1
      rejected += survive(what) {
        guard let inputShape = shape ?? Canonicalizer.inputShape(of: graph, batch: 1) else { throw ModelError("symbolic input") }
        let g = try Canonicalizer.canonicalize(graph, inputShape: inputShape, budget: budget)
        _ = try ForwardPlan(graph: g, budget: budget)
      } ? 1 : 0
    }
    XCTAssertNoThrow(try Self.run(model))
    for dims in [[1 << 40, 1 << 40], [0, 5], [-3, 2], [Int.max, 2], [1 << 20, 1 << 20]] {
      var g = original
      g.declaredInputShape = [.symbolic("N")] + dims.map { .fixed($0) } + Array(g.declaredInputShape.dropFirst(3))
      attempt("input dims \(dims)", g)
    }
    for batch in [0, -1, 1 << 40, Int.max] {
      attempt("batch \(batch)", original, shape: Canonicalizer.inputShape(of: original, batch: batch))
    }
    for name in original.constants.keys.sorted().prefix(6) {
      for dims in [[0], [1 << 31, 1 << 31], [-1]] {
        var g = original
        g.constants[name]!.shape = dims
        attempt("constant \(name) shape \(dims)", g)
      }
    }
    for (index, node) in original.nodes.enumerated() {
      var g = original
      switch node.op {
      case .conv(var conv):
        conv.window.padTop = 1 << 30; conv.window.strideH = 1 << 30
        g.nodes[index].op = .conv(conv)
      case .maxPool(var pool), .avgPool(var pool):
        pool.window.kernelH = 1 << 30; pool.window.padBottom = 1 << 29
        if case .maxPool = node.op { g.nodes[index].op = .maxPool(pool) } else { g.nodes[index].op = .avgPool(pool) }
      default: continue
      }
      attempt("huge window at \(node.name)", g)
    }
    print("structural edits: \(rejected) of \(attempts) rejected")
  }

  func testMutatedRuleFiles() throws {
    var rng = SeededRandom(seed: 5)
    let rulesDir = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Rules")
    for file in ["zplus", "epsilon", "paper"] {
      let bytes = [UInt8](try Data(contentsOf: rulesDir.appendingPathComponent("\(file).yaml")))
      for (i, mutant) in Self.mutants(of: bytes, count: 30, rng: &rng).enumerated() {
        survive("\(file) mutant \(i)") { _ = try RuleSet(yaml: String(decoding: mutant, as: UTF8.self), source: "\(file)-\(i).yaml") }
      }
    }
  }

  func testMutatedPreprocessing() throws {
    var rng = SeededRandom(seed: 6)
    let yaml = "name: caffe\nmean: [103.939, 116.779, 123.68]\nstd: 1\nrange: [0, 255]\nlayout: nhwc\n"
    for (i, mutant) in Self.mutants(of: Array(yaml.utf8), count: 60, rng: &rng).enumerated() {
      survive("preprocessing mutant \(i)") { _ = try Preprocessing(yaml: String(decoding: mutant, as: UTF8.self), source: "pre-\(i).yaml") }
    }
  }

  func testMutatedNPY() throws {
    var rng = SeededRandom(seed: 8)
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("relevance/vgg16_small.input.npy"))))
    for (i, mutant) in Self.mutants(of: bytes, count: 80, rng: &rng).enumerated() {
      survive("npy mutant \(i)") { _ = try NPY.decode(Data(mutant), name: "m\(i).npy") }
    }
    // Header edits: huge and odd dimensions, other orders.
    for shape in ["(1 << 40,)", "(4294967295, 4294967295, 4)", "(99999999999999999999,)", "(-1, 3)", "(0,)", "()",
                  "(1, 3, 64, 64)", "(3, 64, 64, 1)"] {
      for order in ["True", "False"] {
        var header = "{'descr': '<f4', 'fortran_order': \(order), 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: 3 * 64 * 64 * 4))
        survive("npy shape \(shape)") { _ = try NPY.decode(data, name: "h.npy") }
      }
    }
  }
}
