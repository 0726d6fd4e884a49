/// The pointing game (Zhang et al. 2016, "Top-down neural attention by excitation
/// backprop"), and its energy variant used by Gu et al. 2018 (Fig. 4): does a map's relevance
/// for a class fall on that class's objects?
///
/// Maps here are channel-summed relevance of the model input, H×W row-major (`RelevanceMap`),
/// and only their positive part counts: E = Σ max(0, m).
public enum PointingGame {
  /// For each energy fraction k: sort the pixels by value, highest first; v* is the value at
  /// which the running sum of positive values first reaches k·E; the kept set is every pixel
  /// with value ≥ v* (so pixels tied with the last one needed are all kept: the result does
  /// not depend on the order of ties). A hit when every kept pixel lies inside one of `boxes`
  /// (a pixel is inside when its centre is). A map with no positive energy misses at every k.
  public static func energyHits(_ map: RelevanceMap, boxes: [Box], energies: [Double]) -> [Bool] {
    let positive = map.values.indices.filter { map.values[$0] > 0 }
    let total = positive.reduce(0.0) { $0 + Double(map.values[$1]) }
    guard total > 0, !boxes.isEmpty else { return energies.map { _ in false } }
    let order = positive.sorted { map.values[$0] > map.values[$1] }
    // For each rank r: whether the pixels ranked 0...r all lie inside a box.
    var inside = [Bool](repeating: false, count: order.count)
    var allInside = true
    for (r, i) in order.enumerated() {
      allInside = allInside && boxes.contains { $0.contains(x: i % map.width, y: i / map.width) }
      inside[r] = allInside
    }
    var cumulative = [Double](repeating: 0, count: order.count)
    var running = 0.0
    for (r, i) in order.enumerated() {
      running += Double(map.values[i])
      cumulative[r] = running
    }
    return energies.map { k in
      let needed = k * total * (1 - 1e-12)
      // First rank whose running sum reaches k·E, then every pixel tied with it.
      var r = 0
      while r < order.count - 1 && cumulative[r] < needed { r += 1 }
      let threshold = map.values[order[r]]
      while r < order.count - 1 && map.values[order[r + 1]] == threshold { r += 1 }
      return inside[r]
    }
  }

  /// The classic game: a hit when the map's maximum lies within `tolerance` pixels of one of
  /// `boxes` (15 px in Zhang et al. 2016 on 224-pixel inputs). Where several pixels share the
  /// maximum, all must; a map with no positive value misses.
  public static func pointHit(_ map: RelevanceMap, boxes: [Box], tolerance: Double) -> Bool {
    guard let top = map.values.max(), top > 0, !boxes.isEmpty else { return false }
    for (i, v) in map.values.enumerated() where v == top {
      let x = i % map.width, y = i / map.width
      if !boxes.contains(where: { $0.distance(x: x, y: y) <= tolerance }) { return false }
    }
    return true
  }

  /// The pixel of the map's maximum (the first in row-major order where several tie).
  public static func maximum(_ map: RelevanceMap) -> (x: Int, y: Int) {
    var best = 0
    for (i, v) in map.values.enumerated() where v > map.values[best] { best = i }
    return (best % map.width, best / map.width)
  }
}

/// Baseline maps that know nothing of the network: the centre (a Gaussian bump centred on the
/// input, σ a quarter of the shorter side) and uniform random values, seeded per image.
public enum BaselineMap: String, CaseIterable, Sendable {
  case center, random

  public func map(width: Int, height: Int, seed: UInt64) -> RelevanceMap {
    switch self {
    case .center:
      let cx = Double(width) / 2, cy = Double(height) / 2, s = Double(min(width, height)) / 4
      var values = [Float](repeating: 0, count: width * height)
      for y in 0..<height {
        for x in 0..<width {
          let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
          values[y * width + x] = Float(Foundation.exp(-(dx * dx + dy * dy) / (2 * s * s)))
        }
      }
      return RelevanceMap(width: width, height: height, values: values)
    case .random:
      var generator = SplitMix64(seed: seed)
      return RelevanceMap(width: width, height: height,
                          values: (0..<(width * height)).map { _ in Float(generator.next() >> 40) / Float(1 << 24) + 1e-7 })
    }
  }
}

import Foundation
