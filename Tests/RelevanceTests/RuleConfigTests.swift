import Foundation
import XCTest
@testable import Relevance

/// Rule sets (YAML), their assignment to canonical graphs, preprocessing and the presets.
final class RuleConfigTests: XCTestCase {
  /// vgg16_small canonical for [1,3,64,64]: 13 convs, 5 max pools, 1 average pool, 3 dense.
  /// Loaded once; a failure to load fails each test (in `setUpWithError`) instead of crashing.
  static let loadedVGG = Result { () throws -> Graph in
    try Model(path: Fixtures.path("models/vgg16_small.onnx")).canonical(inputShape: [1, 3, 64, 64])
  }

  var vgg: Graph!

  override func setUpWithError() throws {
    vgg = try Self.loadedVGG.get()
  }

  static let presetsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Rules")

  func rules(_ yaml: String) throws -> RuleSet { try RuleSet(yaml: yaml, source: "test.yaml") }

  func indices(_ graph: Graph, _ predicate: (Op) -> Bool) -> [Int] {
    graph.nodes.indices.filter { predicate(graph.nodes[$0].op) }
  }

  var convs: [Int] { indices(vgg) { if case .conv = $0 { return true } else { return false } } }
  var denses: [Int] { indices(vgg) { $0 == .dense } }
  var linears: [Int] { indices(vgg) { if case .conv = $0 { return true } else { return $0 == .dense } } }
  var maxPools: [Int] { indices(vgg) { if case .maxPool = $0 { return true } else { return false } } }


  // MARK: Presets

  func testEveryPresetParses() throws {
    let expected = ["alpha2beta1", "deconvnet", "epsilon", "epsilon-plus-flat", "gradient", "guided-backprop", "mobilenet", "paper", "resnet", "zplus"]
    XCTAssertEqual(Presets.yaml.keys.sorted(), expected)
    for name in expected {
      let set = try RuleSet.load(nameOrPath: name)
      XCTAssertEqual(set.name, name)
      XCTAssertFalse(set.entries.isEmpty)
      XCTAssertNotNil(set.description)
      let embedded = try RuleSet(yaml: XCTUnwrap(Presets.yaml[name]), source: "embedded")
      XCTAssertEqual(embedded.entries.map(\.rule), set.entries.map(\.rule))
      let fromFile = try RuleSet.load(nameOrPath: Self.presetsDirectory.appendingPathComponent(name + ".yaml").path)
      XCTAssertEqual(fromFile.entries.map(\.rule), set.entries.map(\.rule))
      // Every preset serves the fixture (paper with a preprocessing).
      let assignment = try set.assign(to: vgg, preprocessing: .imagenet)
      XCTAssertEqual(assignment.rules.count, vgg.nodes.count)
      XCTAssertTrue(assignment.rules.allSatisfy { $0 != nil })
    }
  }

  func testEmbeddedPresetsAreTheFiles() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.presetsDirectory.path)
      .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    XCTAssertEqual(files, Presets.yaml.keys.sorted(), "run Rules/embed-presets.sh")
    for name in files {
      let data = try Data(contentsOf: Self.presetsDirectory.appendingPathComponent(name + ".yaml"))
      XCTAssertEqual(Presets.yaml[name].map { Data($0.utf8) }, data, "\(name): run Rules/embed-presets.sh")
    }
  }

  func testPresetsAsDocumented() throws {
    let imagenet = try Preprocessing.imagenet.zBoxBounds(channels: 3)
    let paper = try RuleSet.load(nameOrPath: "paper").assign(to: vgg, preprocessing: .imagenet)
    XCTAssertEqual(paper.rules[convs[0]], .linear(LinearRule(.zBox(low: imagenet.low, high: imagenet.high))))
    XCTAssertEqual(paper.reasons[convs[0]], "entry 1 (op: Conv, position: first)")
    for i in convs.dropFirst() + denses {
      XCTAssertEqual(paper.rules[i], .linear(LinearRule(.zPlus)), vgg.nodes[i].name)
      XCTAssertEqual(paper.reasons[i], "entry 2 (op: linear)")
    }
    for i in maxPools { XCTAssertEqual(paper.rules[i], .winnerTakeAll) }
    let avg = try XCTUnwrap(vgg.nodes.firstIndex { if case .avgPool = $0.op { return true } else { return false } })
    XCTAssertEqual(paper.rules[avg], .proportional)
    for (i, node) in vgg.nodes.enumerated() where node.op == .relu || node.op == .flatten(axis: 1) {
      XCTAssertEqual(paper.rules[i], .pass)
      XCTAssertEqual(paper.reasons[i], "default: pass")
      XCTAssertNil(paper.entryIndices[i])
    }
    XCTAssertEqual(paper.notes, [])

    let epsilon = try RuleSet.load(nameOrPath: "epsilon").assign(to: vgg, preprocessing: nil)
    for i in linears {
      XCTAssertEqual(epsilon.rules[i], .linear(LinearRule(.epsilon(1e-6))))
      guard case .linear(let rule)? = epsilon.rules[i] else { return XCTFail() }
      XCTAssertTrue(rule.bias)
    }
    let flat = try RuleSet.load(nameOrPath: "epsilon-plus-flat").assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(flat.rules[convs[0]], .linear(LinearRule(.flat)))
    XCTAssertEqual(flat.rules[convs[1]], .linear(LinearRule(.zPlus)))
    XCTAssertEqual(flat.rules[denses[0]], .linear(LinearRule(.epsilon(1e-6))))
    let ab = try RuleSet.load(nameOrPath: "alpha2beta1").assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(ab.rules[convs[0]], .linear(LinearRule(.alphaBeta(alpha: 2, beta: 1))))
    let gradient = try RuleSet.load(nameOrPath: "gradient").assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(gradient.rules[convs[0]], .linear(LinearRule(.gradient)))
    XCTAssertEqual(gradient.rules[maxPools[0]], .winnerTakeAll)
    XCTAssertEqual(gradient.rules[avg], .uniform)
    XCTAssertEqual(gradient.rules[1], .gradient)  // the first ReLU
    XCTAssertEqual(vgg.nodes[1].op, .relu)
  }

  func testPresetLookup() throws {
    let message = self.message { try RuleSet.load(nameOrPath: "nonesuch") }
    assertContains(message, ["unknown rule preset 'nonesuch'", "paper", "epsilon-plus-flat", "gradient"])
    assertContains(self.message { try RuleSet.load(nameOrPath: "missing/rules.yaml") },
                   ["missing/rules.yaml", "no such rules file", "paper"])
    // `paper.yaml` names the preset when no such file is in the working directory.
    XCTAssertEqual(try RuleSet.load(nameOrPath: "paper.yaml").entries, try RuleSet.load(nameOrPath: "paper").entries)
    // A directory named by CLRP_RULES_DIR comes first.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-rules-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try "name: custom\nrules:\n  - {op: linear, rule: wsquare}\n  - {op: pooling, rule: proportional}\n"
      .write(to: dir.appendingPathComponent("custom.yaml"), atomically: true, encoding: .utf8)
    setenv("CLRP_RULES_DIR", dir.path, 1)
    defer { unsetenv("CLRP_RULES_DIR") }
    XCTAssertTrue(RuleSet.presetNames.contains("custom"))
    let custom = try RuleSet.load(nameOrPath: "custom")
    XCTAssertEqual(custom.name, "custom")
    XCTAssertEqual(custom.entries[0].rule, .linear(LinearRule(.wSquare)))
  }

  // MARK: Format

  func testEveryRuleAndParameter() throws {
    let set = try rules("""
      name: all
      description: one of each
      rules:
        - {op: Conv, rule: epsilon}
        - {op: Conv, rule: epsilon, epsilon: 0.25, bias: false}
        - {op: Conv, rule: zero}
        - {op: Conv, rule: zplus, bias: true}
        - {op: Conv, rule: alphabeta, alpha: 2, beta: 1}
        - {op: Conv, rule: alphabeta, alpha: 1}
        - {op: Conv, rule: alphabeta, beta: 0.5}
        - {op: Conv, rule: zbox, low: -1, high: [1, 2, 3]}
        - {op: Conv, rule: zbox}
        - {op: Conv, rule: wsquare}
        - {op: Conv, rule: flat}
        - {op: Conv, rule: gamma, gamma: 0.5}
        - {op: Conv, rule: gamma}
        - {op: Conv, rule: gradient}
        - {op: MaxPool, rule: winner-take-all}
        - {op: pooling, rule: proportional}
        - {op: AveragePool, rule: uniform}
        - {op: Relu, rule: pass}
      """)
    XCTAssertEqual(set.name, "all")
    XCTAssertEqual(set.description, "one of each")
    XCTAssertEqual(set.entries.map(\.rule), [
      .linear(LinearRule(.epsilon(1e-6))),
      .linear(LinearRule(.epsilon(0.25), bias: false)),
      .linear(LinearRule(.epsilon(0))),
      .linear(LinearRule(.zPlus, bias: true)),
      .linear(LinearRule(.alphaBeta(alpha: 2, beta: 1))),
      .linear(LinearRule(.alphaBeta(alpha: 1, beta: 0))),
      .linear(LinearRule(.alphaBeta(alpha: 1.5, beta: 0.5))),
      .linear(LinearRule(.zBox(low: [-1], high: [1, 2, 3]))),
      .zBoxFromPreprocessing(bias: nil),
      .linear(LinearRule(.wSquare)),
      .linear(LinearRule(.flat)),
      .linear(LinearRule(.gamma(0.5))),
      .linear(LinearRule(.gamma(0.25))),
      .gradient(bias: nil),
      .node(.winnerTakeAll),
      .node(.proportional),
      .node(.uniform),
      .node(.pass),
    ])
    XCTAssertEqual(set.entries[1].rule.description, "epsilon(0.25) -bias")
    XCTAssertEqual(set.entries[3].rule.description, "zplus +bias")
    XCTAssertEqual(set.entries[15].ops, ["MaxPool", "AveragePool", "GlobalAveragePool"])
    XCTAssertEqual(set.entries[0].line, 4)
    XCTAssertEqual(set.entries[1].text, "{op: Conv, rule: epsilon, epsilon: 0.25, bias: false}")
  }

  func testBlockStyleAndMatchersTogether() throws {
    let set = try rules("""
      rules:
        - op: [conv, DENSE]
          name: "/features/*"
          index: 1..3
          rule: epsilon
          epsilon: 1.0e-3
        - op: linear
          rule: zplus
        - op: pooling
          rule: proportional
      """)
    let assignment = try set.assign(to: vgg, preprocessing: nil)
    for (k, i) in linears.enumerated() {
      let expected: Rule = (1...3).contains(k) ? .linear(LinearRule(.epsilon(1e-3))) : .linear(LinearRule(.zPlus))
      XCTAssertEqual(assignment.rules[i], expected, "linear layer \(k)")
    }
    XCTAssertEqual(assignment.reasons[linears[1]], "entry 1 (op: [conv, DENSE], name: '/features/*', index: 1..3)")
    XCTAssertEqual(set.entries[0].ops, ["Conv", "Dense"])
  }

  // MARK: Assignment

  func testFirstMatchWins() throws {
    let specificFirst = try rules("""
      rules:
        - {name: /features/features.2/Conv, rule: epsilon}
        - {op: linear, rule: zplus}
        - {op: pooling, rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(specificFirst.rules[convs[1]], .linear(LinearRule(.epsilon(1e-6))))
    XCTAssertEqual(specificFirst.reasons[convs[1]], "entry 1 (name: /features/features.2/Conv)")
    XCTAssertEqual(specificFirst.rules[convs[2]], .linear(LinearRule(.zPlus)))
    XCTAssertEqual(specificFirst.rules[maxPools[0]], .proportional)

    let generalFirst = try rules("""
      rules:
        - {op: linear, rule: zplus}
        - {name: /features/features.2/Conv, rule: epsilon}
        - {op: pooling, rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(generalFirst.rules[convs[1]], .linear(LinearRule(.zPlus)))
    // A named entry that never wins is worth a note; op-only entries are not.
    XCTAssertEqual(generalFirst.notes.count, 1)
    assertContains(generalFirst.notes[0], ["test.yaml", "entry 2", "matches no node"])
  }

  func testCatchAllsOnlyTakeWhatTheirRuleServes() throws {
    // Without `op:`, an entry considers only the ops its rule serves: zplus takes the linear
    // layers, winner-take-all the max pools, proportional the average pool; ReLUs stay pass.
    let assignment = try rules("""
      rules:
        - {rule: zplus}
        - {rule: winner-take-all}
        - {rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    for i in linears { XCTAssertEqual(assignment.rules[i], .linear(LinearRule(.zPlus))) }
    for i in maxPools { XCTAssertEqual(assignment.rules[i], .winnerTakeAll) }
    XCTAssertEqual(assignment.reasons[maxPools[0]], "entry 2 (catch-all)")
    XCTAssertEqual(assignment.rules[1], .pass)

    let gradient = try rules("rules:\n  - {rule: gradient}\n").assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(gradient.rules[0], .linear(LinearRule(.gradient)))
    XCTAssertEqual(gradient.rules[1], .gradient)
    XCTAssertEqual(gradient.rules[maxPools[0]], .gradient)
  }

  func testNameGlobs() throws {
    XCTAssertTrue(globMatch("/features/*", "/features/features.0/Conv"))
    XCTAssertTrue(globMatch("*Conv", "/features/features.0/Conv"))
    XCTAssertTrue(globMatch("/features/features.?/Conv", "/features/features.5/Conv"))
    XCTAssertFalse(globMatch("/features/features.?/Conv", "/features/features.10/Conv"))
    XCTAssertTrue(globMatch("*", ""))
    XCTAssertTrue(globMatch("a*b*c", "a-b-b-c"))
    XCTAssertFalse(globMatch("a*b*c", "a-b-b-"))
    XCTAssertFalse(globMatch("features", "/features/features.0/Conv"))  // whole name

    let assignment = try rules("""
      rules:
        - {name: [/classifier/*, "*features.?/Conv"], rule: epsilon}
        - {op: linear, rule: zplus}
        - {op: pooling, rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    for i in linears {
      let name = vgg.nodes[i].name
      let epsilon = name.hasPrefix("/classifier/") || ["0", "2", "5", "7"].contains { name == "/features/features.\($0)/Conv" }
      XCTAssertEqual(assignment.rules[i], .linear(LinearRule(epsilon ? .epsilon(1e-6) : .zPlus)), name)
    }
  }

  func testIndexRanges() throws {
    XCTAssertEqual(LayerRange(parsing: "0"), LayerRange(lower: 0, upper: 0))
    XCTAssertEqual(LayerRange(parsing: "1..3"), LayerRange(lower: 1, upper: 3))
    XCTAssertEqual(LayerRange(parsing: "2.."), LayerRange(lower: 2, upper: nil))
    XCTAssertEqual(LayerRange(parsing: "..-2"), LayerRange(lower: nil, upper: -2))
    XCTAssertEqual(LayerRange(parsing: " -3 .. -1 "), LayerRange(lower: -3, upper: -1))
    for bad in ["", "..", "1...3", "a..2", "1..b", "1-3", "first"] { XCTAssertNil(LayerRange(parsing: bad), bad) }
    XCTAssertEqual(LayerRange(parsing: "..-2")?.description, "..-2")
    XCTAssertEqual(LayerRange(parsing: "4")?.description, "4")

    let n = linears.count  // 16
    XCTAssertEqual(n, 16)
    func selected(_ index: String) throws -> [Int] {
      let assignment = try rules("""
        rules:
          - {index: '\(index)', rule: epsilon}
          - {op: linear, rule: zplus}
          - {op: pooling, rule: proportional}
        """).assign(to: vgg, preprocessing: nil)
      return linears.indices.filter { assignment.rules[linears[$0]] == .linear(LinearRule(.epsilon(1e-6))) }
    }
    XCTAssertEqual(try selected("0"), [0])
    XCTAssertEqual(try selected("1..3"), [1, 2, 3])
    XCTAssertEqual(try selected("13.."), [13, 14, 15])
    XCTAssertEqual(try selected("..-2"), Array(0..<(n - 1)))
    XCTAssertEqual(try selected("-1"), [n - 1])
    XCTAssertEqual(try selected("-3..-2"), [n - 3, n - 2])
    XCTAssertEqual(try selected("2..1"), [])
    XCTAssertEqual(try selected("40"), [])
    // A plain integer works unquoted too.
    let plain = try rules("rules:\n  - {index: -1, rule: epsilon}\n  - {op: linear, rule: zplus}\n  - {op: pooling, rule: proportional}\n")
    XCTAssertEqual(plain.entries[0].index, LayerRange(lower: -1, upper: -1))

    let positions = try rules("""
      rules:
        - {position: first, rule: flat}
        - {position: last, rule: epsilon}
        - {rule: zplus}
        - {op: pooling, rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    XCTAssertEqual(positions.rules[linears[0]], .linear(LinearRule(.flat)))
    XCTAssertEqual(positions.rules[linears[n - 1]], .linear(LinearRule(.epsilon(1e-6))))
    XCTAssertEqual(positions.rules[linears[1]], .linear(LinearRule(.zPlus)))
    XCTAssertEqual(positions.reasons[linears[n - 1]], "entry 2 (position: last)")
  }

  func testNodesThatNeedNoRuleTakePassOrGradient() throws {
    let assignment = try rules("""
      rules:
        - {op: [Relu, Flatten], rule: gradient}
        - {op: Relu, rule: pass}
        - {op: linear, rule: zplus}
        - {op: MaxPool, rule: winner-take-all}
        - {op: AveragePool, rule: proportional}
      """).assign(to: vgg, preprocessing: nil)
    for (i, node) in vgg.nodes.enumerated() {
      switch node.op {
      case .relu, .flatten:
        XCTAssertEqual(assignment.rules[i], .gradient, node.name)
        XCTAssertEqual(assignment.reasons[i], "entry 1 (op: [Relu, Flatten])")
      case .conv, .dense: XCTAssertEqual(assignment.rules[i], .linear(LinearRule(.zPlus)))
      default: XCTAssertNotNil(assignment.rules[i])
      }
    }
    // Other rules on such nodes are refused when the file is read (see testEntryErrors).
    assertContains(message { try self.rules("rules:\n  - {op: Concat, rule: uniform}\n") },
                   ["rule uniform cannot serve Concat"])
  }

  func testZBoxBounds() throws {
    // From the entry: a number or one per channel; lists must fit the layer's channels.
    let explicit = try rules("""
      rules:
        - {position: first, rule: zbox, low: [-1, -2, -3], high: 4}
        - {rule: zplus}
        - {op: pooling, rule: proportional}
      """).assign(to: vgg, preprocessing: .imagenet)
    XCTAssertEqual(explicit.rules[0], .linear(LinearRule(.zBox(low: [-1, -2, -3], high: [4]))))

    let unit = try RuleSet.load(nameOrPath: "paper").assign(to: vgg, preprocessing: .unit)
    XCTAssertEqual(unit.rules[0], .linear(LinearRule(.zBox(low: [0, 0, 0], high: [1, 1, 1]))))

    let b = try Preprocessing.imagenet.zBoxBounds(channels: 3)
    XCTAssertEqual(b.low, [Float((0 - 0.485) / 0.229), Float((0 - 0.456) / 0.224), Float((0 - 0.406) / 0.225)])
    XCTAssertEqual(b.high, [Float((1 - 0.485) / 0.229), Float((1 - 0.456) / 0.224), Float((1 - 0.406) / 0.225)])
    XCTAssertEqual(b.low[0], -2.117904, accuracy: 1e-6)
    XCTAssertEqual(b.high[2], 2.64, accuracy: 1e-6)
  }

  // MARK: Preprocessing

  func testPreprocessingFiles() throws {
    let p = try Preprocessing(yaml: """
      name: caffe
      mean: [103.939, 116.779, 123.68]
      std: 1
      range: [0, 255]
      layout: nhwc
      """, source: "caffe.yaml")
    XCTAssertEqual(p.name, "caffe")
    XCTAssertEqual(p.range, 0...255)
    XCTAssertEqual(p.layout, .nhwc)
    XCTAssertEqual(p.channels, 3)
    let b = try p.zBoxBounds(channels: 3)
    XCTAssertEqual(b.low, [-103.939, -116.779, -123.68].map { Float($0) })
    XCTAssertEqual(b.high[0], Float(255 - 103.939))

    let defaults = try Preprocessing(yaml: "mean: 0.5\nstd: 0.5\n", source: "/tmp/half.yaml")
    XCTAssertEqual(defaults.name, "half")
    XCTAssertEqual(defaults.range, 0...1)
    XCTAssertNil(defaults.layout)
    XCTAssertEqual(try defaults.zBoxBounds(channels: 2).low, [-1, -1])

    XCTAssertEqual(try Preprocessing.load(nameOrPath: "ImageNet"), .imagenet)
    XCTAssertEqual(try Preprocessing.load(nameOrPath: "unit"), .unit)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-pre-\(getpid()).yaml")
    try "mean: [0.5, 0.5, 0.5]\nstd: [0.25, 0.25, 0.25]\n".write(to: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: path) }
    XCTAssertEqual(try Preprocessing.load(nameOrPath: path.path).mean, [0.5, 0.5, 0.5])

    assertContains(message { try Preprocessing.load(nameOrPath: "bogus") }, ["unknown preprocessing 'bogus'", "imagenet", "unit"])
    assertContains(message { try Preprocessing.imagenet.zBoxBounds(channels: 1) }, ["'imagenet' has 3 channels", "has 1"])
    let cases: [(String, String)] = [
      ("mean: 0\nstd: 1\nscale: 2\n", "unknown key `scale`"),
      ("mean: 0\n", "needs `mean` and `std`"),
      ("mean: 0\nstd: [1, 0]\n", "`std` values must be > 0"),
      ("mean: [0, 0, 0]\nstd: [1, 1]\n", "`mean` has 3 values and `std` 2"),
      ("mean: 0\nstd: 1\nrange: [1, 0]\n", "`range` must be [low, high]"),
      ("mean: 0\nstd: 1\nrange: [0, 1, 2]\n", "`range` must be [low, high]"),
      ("mean: 0\nstd: 1\nlayout: CHW\n", "`layout` must be NCHW or NHWC"),
      ("mean: zero\nstd: 1\n", "`mean` must be a number or a non-empty list of numbers"),
      ("mean: 0\nstd: 1\nmean: 2\n", "key `mean` is given twice"),
      ("", "is empty"),
      ("[1, 2]", "must be a mapping"),
    ]
    for (yaml, expected) in cases {
      assertContains(message { try Preprocessing(yaml: yaml, source: "pre.yaml") }, ["pre.yaml: ", expected])
    }
  }

  // MARK: Errors

  /// Entry-level problems found when the file is read: each names the file, the entry's
  /// number, line and text, and what is wrong.
  func testEntryErrors() throws {
    let cases: [(entry: String, expected: String)] = [
      ("{op: Conv, rule: zplus, eps: 1}", "unknown key `eps`"),
      ("{op: Conv}", "has no `rule:`"),
      ("{op: Conv, rule: lrp-z}", "unknown rule `lrp-z`"),
      ("{op: Conv, rule: epsilon, alpha: 2}", "`alpha` is not a parameter of epsilon (it takes epsilon, bias)"),
      ("{op: MaxPool, rule: winner-take-all, epsilon: 1}", "`epsilon` is not a parameter of winner-take-all (it takes no parameters)"),
      ("{op: Conv, rule: epsilon, epsilon: -1}", "`epsilon` must be >= 0"),
      ("{op: Conv, rule: epsilon, epsilon: small}", "`epsilon` must be a finite number"),
      ("{op: Conv, rule: epsilon, epsilon: [1, 2]}", "`epsilon` must be a finite number"),
      ("{op: Conv, rule: alphabeta, alpha: 2, beta: 2}", "alpha - beta = 1"),
      ("{op: Conv, rule: alphabeta, alpha: 0.5}", "alpha >= 0 and beta >= 0"),
      ("{op: Conv, rule: alphabeta}", "alphabeta needs `alpha` and `beta`"),
      ("{op: Conv, rule: gamma, gamma: -0.1}", "`gamma` must be >= 0"),
      ("{op: Conv, rule: zbox, low: 1, high: 0}", "zbox needs low <= high; got low 1.0, high 0.0"),
      ("{op: Conv, rule: zbox, low: [0, 2], high: [1, 1]}", "channel 1 has low 2.0, high 1.0"),
      ("{op: Conv, rule: zbox, low: [0, 0], high: [1, 1, 1]}", "`low` has 2 values and `high` 3"),
      ("{op: Conv, rule: zbox, low: 0}", "zbox needs both `low` and `high`, or neither"),
      ("{op: Conv, rule: zplus, bias: maybe}", "`bias` must be true or false"),
      ("{op: MaxPool, rule: zplus}", "rule zplus cannot serve MaxPool; it applies to Conv, ConvTranspose, Dense"),
      ("{op: Conv, rule: winner-take-all}", "rule winner-take-all cannot serve Conv; it applies to MaxPool"),
      ("{op: MaxPool, rule: uniform}", "rule uniform cannot serve MaxPool; it applies to AveragePool, GlobalAveragePool"),
      ("{op: pooling, rule: winner-take-all}", "cannot serve AveragePool, GlobalAveragePool"),
      ("{op: Relu, rule: zplus}", "rule zplus cannot serve Relu"),
      ("{op: Relu, rule: proportional}", "rule proportional cannot serve Relu"),
      ("{op: Conv, rule: pass}", "rule pass cannot serve Conv"),
      ("{op: AveragePool, rule: pass}", "rule pass cannot serve AveragePool"),
      ("{op: Gemm, rule: zplus}", "unknown op `Gemm` (canonical graphs call it Dense)"),
      ("{op: [Conv, Pool], rule: zplus}", "unknown op `Pool`"),
      ("{op: [], rule: zplus}", "`op` must be a name or a non-empty list of names"),
      ("{position: middle, rule: zplus}", "`position` must be first or last"),
      ("{index: 1-3, rule: zplus}", "`index` must be a linear-layer index or range"),
      ("{index: [1, 2], rule: zplus}", "`index` must be a single value"),
      ("{position: first, rule: winner-take-all}", "`position` counts linear layers (Conv, Dense), which rule winner-take-all cannot serve"),
      ("{op: MaxPool, index: 0, rule: gradient}", "`index` counts linear layers (Conv, Dense), but `op` names MaxPool"),
      ("{op: MaxPool, rule: gradient, bias: true}", "`bias` applies to Conv and Dense layers only"),
      ("{name: {a: 1}, rule: zplus}", "`name` must be a name or a non-empty list of names"),
    ]
    for (entry, expected) in cases {
      let yaml = "rules:\n  - {op: pooling, rule: proportional}\n  - \(entry)\n"
      let message = self.message { try self.rules(yaml) }
      assertContains(message, ["test.yaml: entry 2 (line 3: {", expected])
    }
    // Block-style entries are named by their flow rendering too.
    let block = message { try self.rules("rules:\n  - op: MaxPool\n    name: 'block*'\n    rule: zplus\n") }
    XCTAssertEqual(block, "test.yaml: entry 1 (line 2: {op: MaxPool, name: 'block*', rule: zplus}): rule zplus cannot serve MaxPool; it applies to Conv, ConvTranspose, Dense")
  }

  func testFileErrors() throws {
    let cases: [(yaml: String, expected: String)] = [
      ("", "test.yaml: is empty"),
      ("rules: [\n", "test.yaml: not valid YAML"),
      ("name: x\n", "test.yaml: has no `rules:` list"),
      ("rules: zplus\n", "`rules:` must be a list of entries"),
      ("rules: []\n", "`rules:` is empty"),
      ("rule:\n  - {rule: zplus}\n", "unknown top-level key `rule` (allowed: name, description, rules)"),
      ("rules:\n  - zplus\n", "test.yaml: entry 1 (line 2: zplus): must be a mapping"),
      ("rules:\n  - {op: Conv, rule: zplus, rule: epsilon}\n", "key `rule` is given twice in one mapping (line 2)"),
      ("- {rule: zplus}\n", "must be a mapping"),
    ]
    for (yaml, expected) in cases {
      assertContains(message { try self.rules(yaml) }, [expected])
    }
  }

  /// Problems found against a graph: each names the model file, the node and its op.
  func testAssignmentErrors() throws {
    let noPooling = message {
      try self.rules("rules:\n  - {op: linear, rule: zplus}\n").assign(to: self.vgg, preprocessing: nil)
    }
    assertContains(noPooling, ["vgg16_small.onnx: node '/features/features.4/MaxPool' (MaxPool): no entry of test.yaml matches this MaxPool node",
                               "`- {op: MaxPool, rule: winner-take-all}`"])
    let noDense = message {
      try self.rules("rules:\n  - {op: Conv, rule: zplus}\n  - {op: pooling, rule: proportional}\n").assign(to: self.vgg, preprocessing: nil)
    }
    assertContains(noDense, ["node '/classifier/classifier.0/Gemm' (Gemm): no entry of test.yaml matches this Dense node"])

    let noPreprocessing = message { try RuleSet.load(nameOrPath: "paper").assign(to: self.vgg, preprocessing: nil) }
    assertContains(noPreprocessing, ["node '/features/features.0/Conv' (Conv)", "Rules/paper.yaml", "entry 1 (line",
                                     "{op: Conv, position: first, rule: zbox}", "--preprocess"])

    let fourChannels = Preprocessing(name: "rgba", mean: [0, 0, 0, 0], std: [1, 1, 1, 1])
    let mismatch = message { try RuleSet.load(nameOrPath: "paper").assign(to: self.vgg, preprocessing: fourChannels) }
    assertContains(mismatch, ["node '/features/features.0/Conv'", "entry 1", "preprocessing 'rgba' has 4 channels", "has 3"])

    let listMismatch = message {
      try self.rules("rules:\n  - {position: first, rule: zbox, low: [0, 0], high: [1, 1]}\n  - {rule: zplus}\n  - {op: pooling, rule: proportional}\n")
        .assign(to: self.vgg, preprocessing: nil)
    }
    assertContains(listMismatch, ["node '/features/features.0/Conv'", "test.yaml entry 1 (line 2:", "zbox `low` has 2 values; the layer's input has 3 channels"])

    let deepZBox = message {
      try self.rules("rules:\n  - {rule: zbox}\n  - {op: pooling, rule: proportional}\n").assign(to: self.vgg, preprocessing: .imagenet)
    }
    assertContains(deepZBox, ["node '/features/features.2/Conv'", "only on a layer that reads the model input"])
  }
}

extension RuleConfigTests {
  /// The full example of Docs/RULES.md parses and serves the fixture.
  func testDocumentedExample() throws {
    let doc = try String(contentsOf: Self.presetsDirectory.deletingLastPathComponent()
      .appendingPathComponent("Docs/RULES.md"), encoding: .utf8)
    let format = try XCTUnwrap(doc.range(of: "## Format"))
    let start = try XCTUnwrap(doc.range(of: "```yaml\n", range: format.upperBound..<doc.endIndex))
    let end = try XCTUnwrap(doc.range(of: "```", range: start.upperBound..<doc.endIndex))
    let set = try RuleSet(yaml: String(doc[start.upperBound..<end.lowerBound]), source: "RULES.md")
    XCTAssertEqual(set.name, "my-rules")
    let assignment = try set.assign(to: vgg, preprocessing: .imagenet)
    XCTAssertEqual(assignment.rules[linears[1]], .linear(LinearRule(.epsilon(0.01))))
    XCTAssertEqual(assignment.rules[denses[0]], .linear(LinearRule(.gamma(0.25))))
    XCTAssertEqual(assignment.rules[denses[2]], .linear(LinearRule(.epsilon(1e-6), bias: false)))
    XCTAssertEqual(assignment.rules[1], .pass)
    XCTAssertEqual(assignment.reasons[1], "entry 8 (op: Relu)")
  }
}

/// zbox bounds from the preprocessing pass through input normalization kept in the graph.
final class NormalizedInputBoundsTests: XCTestCase {
  func testBoundsAreMappedThroughInGraphNormalization() throws {
    let mean: [Float] = [0.5, 0.25, -1], std: [Float] = [2, 0.5, -4]
    let nodes = [
      Node(name: "sub", op: .elementwise(.sub), inputs: ["x", "mean"], outputs: ["centered"], sourceOpType: "Sub"),
      Node(name: "div", op: .elementwise(.div), inputs: ["centered", "std"], outputs: ["normalized"], sourceOpType: "Div"),
      Node(name: "conv", op: .conv(Conv2D(window: Window2D(kernelH: 1, kernelW: 1), group: 1, autoPad: .explicit)),
           inputs: ["normalized", "w"], outputs: ["y"], sourceOpType: "Conv"),
    ]
    let graph = Graph(name: "norm", source: "test", input: "x", declaredInputShape: [.fixed(1), .fixed(3), .fixed(4), .fixed(4)],
                      outputs: ["y"], nodes: nodes,
                      constants: ["mean": Constant(shape: [1, 3, 1, 1], floats: mean), "std": Constant(shape: [3, 1, 1], floats: std),
                                  "w": Constant(shape: [2, 3, 1, 1], floats: [1, 2, 3, 4, 5, 6])],
                      opsetVersion: 13, producer: "test")
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: [1, 3, 4, 4])
    XCTAssertEqual(canonical.nodes.count, 3, "normalization stays explicit")
    let rules = try RuleSet.load(nameOrPath: "paper").assign(to: canonical, preprocessing: .unit).rules
    guard case .linear(let rule)? = rules[2], case .zBox(let low, let high) = rule.kind else {
      return XCTFail("the conv should get zbox, got \(String(describing: rules[2]))")
    }
    for c in 0..<3 {
      let a = (0 - mean[c]) / std[c], b = (1 - mean[c]) / std[c]
      XCTAssertEqual(low[c], min(a, b), accuracy: 1e-6)
      XCTAssertEqual(high[c], max(a, b), accuracy: 1e-6)
    }
  }
}
