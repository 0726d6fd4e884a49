import Foundation
import XCTest
@testable import Relevance

/// Hostile models and inputs that used to crash or give wrong answers silently: zero-sized
/// dimensions, allocations beyond any memory, pooling windows made of padding, Fortran-ordered
/// NPY files, external data reached through a symbolic link.
final class RobustModelTests: XCTestCase {
  func bad(_ name: String) -> String { Fixtures.path("bad/\(name).onnx") }

  /// The ModelError of canonicalizing `path` for one image under `budget` and building its plan.
  func error(_ path: String, budget: MemoryBudget = MemoryBudget(bytes: 1 << 30),
             file: StaticString = #filePath, line: UInt = #line) -> ModelError? {
    do {
      let model = try Model(path: path)
      let graph = try Canonicalizer.canonicalize(model.imported, inputShape: model.inputShape(batch: 1), budget: budget)
      _ = try ForwardPlan(graph: graph, budget: budget)
      XCTFail("\(path) was accepted", file: file, line: line)
    } catch let error as ModelError {
      XCTAssertTrue(error.description.hasPrefix(path + ": "), "file not named: \(error)", file: file, line: line)
      return error
    } catch {
      XCTFail("not a ModelError: \(error)", file: file, line: line)
    }
    return nil
  }

  // Case 4: a Conv with 0 output channels.
  func testZeroOutputChannelsAreRefusedAtTheNode() {
    let e = error(bad("zero_channels"))
    XCTAssertEqual(e?.nodeName, "conv1")
    XCTAssertTrue(e?.message.contains("zero-sized") == true, "\(String(describing: e))")
  }

  func testEmptyInputShapeIsRefused() throws {
    let model = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    XCTAssertTrue(message { try model.canonical(inputShape: [0, 3, 64, 64]) }.contains("is empty"))
  }

  // Case 7: constant folding estimates before allocating.
  func testUnusedConstantOfShapeIsRefusedBeforeAllocating() {
    let e = error(bad("unused_constant_of_shape"))
    XCTAssertEqual(e?.nodeName, "big")
    XCTAssertTrue(e?.message.contains("memory budget") == true, "\(String(describing: e))")
  }

  func testBroadcastConstantsAreRefusedBeforeAllocating() {
    let e = error(bad("broadcast_constants"))
    XCTAssertEqual(e?.nodeName, "grow")
    XCTAssertTrue(e?.message.contains("constant folding") == true && e?.message.contains("[32768, 32768]") == true,
                  "\(String(describing: e))")
  }

  func testABudgetLikeAMachineDefaultRefusesTheHugeFoldsToo() throws {
    // 16 GiB: what the default (75 %) is on a machine of about 21 GiB.
    for name in ["unused_constant_of_shape", "broadcast_constants"] {
      XCTAssertTrue(error(bad(name), budget: MemoryBudget(bytes: 16 << 30))?.message.contains("memory budget") == true, name)
    }
  }

  func testTheEnvironmentSetsTheDefaultBudget() {
    setenv("CLRP_MAX_MEMORY", "3G", 1)
    XCTAssertEqual(MemoryBudget.default.bytes, 3 << 30)
    setenv("CLRP_MAX_MEMORY", "not a size", 1)
    XCTAssertLessThan(MemoryBudget.default.bytes, MemoryBudget.machineBytes)
    unsetenv("CLRP_MAX_MEMORY")
  }

  // Case 8: a model declaring a [1, 3, 16384, 16384] input.
  func testHugeDeclaredInputIsRefusedBeforeTheForwardPlan() throws {
    // Each value fits 12 GiB, all of them together do not.
    let e = error(bad("huge_input"), budget: MemoryBudget(bytes: 12 << 30))
    XCTAssertTrue(e?.message.contains("a forward pass with input shape [1, 3, 16384, 16384]") == true, "\(String(describing: e))")
    XCTAssertTrue(e?.message.contains("above the memory budget of 12.9 GB") == true, "\(String(describing: e))")
    // Under 4 GiB, the first layer's output alone is refused, at its node.
    let small = error(bad("huge_input"), budget: MemoryBudget(bytes: 4 << 30))
    XCTAssertEqual(small?.nodeName, "conv1")
    XCTAssertTrue(small?.message.contains("above the memory budget of 4.3 GB") == true, "\(String(describing: small))")
  }

  // Case 5: a huge batch, with overflow-checked estimates.
  func testHugeBatchIsRefused() throws {
    let model = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    for batch in [100_000_000, Int.max / 2] {
      XCTAssertTrue(message { try model.canonical(inputShape: model.inputShape(batch: batch)) }.contains("memory budget")
                    || message { try model.canonical(inputShape: model.inputShape(batch: batch)) }.contains("implausibly large"))
    }
    let graph = try model.canonical(inputShape: model.inputShape(batch: 64))
    XCTAssertTrue(message { try ForwardPlan(graph: graph, budget: MemoryBudget(bytes: 1 << 20)) }.contains("memory budget"))
    XCTAssertNoThrow(try ForwardPlan(graph: graph, budget: MemoryBudget(bytes: 4 << 30)))
  }

  func testMemorySizesParse() throws {
    XCTAssertEqual(try MemoryBudget.parse("8G").bytes, 8 << 30)
    XCTAssertEqual(try MemoryBudget.parse("512M").bytes, 512 << 20)
    XCTAssertEqual(try MemoryBudget.parse("1.5GiB").bytes, 3 << 29)
    XCTAssertEqual(try MemoryBudget.parse("4096").bytes, 4096)
    for text in ["", "G", "-1G", "abc", "1e30", "nanM"] {
      XCTAssertThrowsError(try MemoryBudget.parse(text), text)
    }
    XCTAssertGreaterThan(MemoryBudget.default.bytes, 0)
    XCTAssertLessThan(MemoryBudget.default.bytes, MemoryBudget.machineBytes)
  }

  // Case 10: pooling pads must be smaller than the kernel.
  func testPoolPadsNotSmallerThanKernelAreRefused() {
    let path = bad("pool_pads_exceed_kernel")
    XCTAssertThrowsError(try Model(path: path)) { error in
      let e = error as? ModelError
      XCTAssertEqual(e?.nodeName, "pool1")
      XCTAssertTrue(e?.message.contains("smaller than the kernel") == true, "\(error)")
    }
  }

  // Case 11: NPY headers in any key order, Fortran order honoured.
  func testNPYHeaderKeysInAnyOrderAndFortranOrder() throws {
    func npy(_ dict: String, _ values: [Float]) -> Data {
      var text = dict
      text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
      var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xff), UInt8(text.utf8.count >> 8)])
      data.append(contentsOf: Array(text.utf8))
      values.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
      return data
    }
    // Column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
    let stored: [Float] = [1, 4, 2, 5, 3, 6]
    let expected = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
    for header in ["{'descr': '<f4', 'shape': (2, 3), 'fortran_order': True}",
                   "{'descr': '<f4', 'shape': (2, 3), 'fortran_order': True, }",
                   "{'fortran_order': True, 'shape': (2, 3), 'descr': '<f4'}",
                   "{ 'shape' : (2,3) , 'descr':'<f4','fortran_order':True }"] {
      XCTAssertEqual(try NPY.decode(npy(header, stored), name: "f.npy"), expected, header)
    }
    XCTAssertEqual(try NPY.decode(npy("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", expected.data), name: "c.npy"), expected)
    XCTAssertEqual(try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", [1, 2, 3, 4]), name: "v.npy").shape, [4])
    XCTAssertEqual(try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", [7]), name: "s.npy").data, [7])
    for header in ["{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", "{'descr': '<f4', 'shape': (2, x)}",
                   "{'descr': '<f4', 'shape': (2,)", "'descr': '<f4'", "{'descr': '<f4', 'descr': '<f8', 'shape': (2,)}"] {
      XCTAssertTrue(message { try NPY.decode(npy(header, [1, 2]), name: "b.npy") }.hasPrefix("b.npy: not a usable .npy file"), header)
    }
  }

  // External data reached through a symbolic link that leaves the model's folder.
  func testExternalDataSymlinkOutsideTheFolderIsRefused() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-symlink-\(UUID())")
    let inside = root.appendingPathComponent("model"), outside = root.appendingPathComponent("elsewhere")
    try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let source = URL(fileURLWithPath: Fixtures.path("models/external"))
    try FileManager.default.copyItem(at: source.appendingPathComponent("vgg_tiny_external.onnx"),
                                     to: inside.appendingPathComponent("vgg_tiny_external.onnx"))
    // The same (valid) bytes, but outside the folder: only the link is at fault.
    try FileManager.default.copyItem(at: source.appendingPathComponent("weights.bin"), to: outside.appendingPathComponent("weights.bin"))
    try FileManager.default.createSymbolicLink(atPath: inside.appendingPathComponent("weights.bin").path,
                                               withDestinationPath: outside.appendingPathComponent("weights.bin").path)
    let text = message { try Model(path: inside.appendingPathComponent("vgg_tiny_external.onnx").path) }
    XCTAssertTrue(text.contains("outside the model's folder"), text)
    // A link that stays inside the folder is fine.
    try FileManager.default.removeItem(at: inside.appendingPathComponent("weights.bin"))
    try FileManager.default.moveItem(at: outside.appendingPathComponent("weights.bin"), to: inside.appendingPathComponent("real.bin"))
    try FileManager.default.createSymbolicLink(atPath: inside.appendingPathComponent("weights.bin").path, withDestinationPath: "real.bin")
    XCTAssertNoThrow(try Model(path: inside.appendingPathComponent("vgg_tiny_external.onnx").path))
  }
}
