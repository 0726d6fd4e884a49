extension Kernels {
  /// Smallest number of 2×2 output tiles per image, and of channels and filters per group, for
  /// which `conv2d` takes the Winograd path.
  static let winogradMinimumTiles = 128
  static let winogradMinimumChannels = 16

  /// Number of floats of the Winograd scratch matrices (`V` and the products) per slab of tile rows.
  static let winogradBudget = 1 << 23

  /// Whether `conv2d` computes this convolution with `conv2dWinograd`: 3×3 kernels with unit stride
  /// and dilation, enough channels and filters per group, and enough output to amortise the
  /// weight transform.
  static func usesWinograd(_ s: ConvShape, _ window: Window2D) -> Bool {
    window.kernelH == 3 && window.kernelW == 3 && window.strideH == 1 && window.strideW == 1
      && window.dilationH == 1 && window.dilationW == 1
      && s.cg >= winogradMinimumChannels && s.mg >= winogradMinimumChannels
      && ((s.oH + 1) / 2) * ((s.oW + 1) / 2) >= winogradMinimumTiles
  }

  /// A 3×3, stride-1, dilation-1 convolution by Winograd's minimal filtering F(2×2, 3×3)
  /// (Lavin & Gray 2016), equal to the im2col path up to float rounding.
  ///
  /// The output is covered by 2×2 tiles, each computed from a 4×4 input patch `d` (taps outside the
  /// input read 0) as `Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A`. The 16 elementwise products summed over
  /// channels are 16 GEMMs `U_ξ [M/G, C/G] · V_ξ [C/G, tiles]` per group, done with `cblas_sgemm` on
  /// slabs of tile rows of at most `budget` floats of `V` and products; they take 16/36 of the
  /// multiplications of the direct form.
  ///
  /// Writes all of `y`, `[N, M, oH, oW]`; `bias` and `clamp` as in `conv2d`.
  static func conv2dWinograd(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                             shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>,
                             budget: Int = winogradBudget) {
    let (cg, mg) = (s.cg, s.mg)
    let tilesH = (s.oH + 1) / 2, tilesW = (s.oW + 1) / 2
    let slabRows = max(1, min(tilesH, budget / max(1, 16 * (cg + mg) * tilesW)))
    let slabTiles = slabRows * tilesW
    // The 16 matrices of each set are spaced by a stride padded off multiples of 4 KiB, so that the
    // 16 streams written or read together do not alias in the caches.
    let uStride = mg * cg + 32, vStride = cg * slabTiles + 32, pStride = mg * slabTiles + 32
    let uCount = s.group * 16 * uStride, vCount = 16 * vStride
    ScratchPool.shared.with(uCount + vCount + 16 * pStride) { scratch in
      winograd(x, weight: weight, bias: bias, shape: s, window: window, clamp: clamp, y: y,
               u: scratch, v: scratch + uCount, products: scratch + uCount + vCount,
               strides: (uStride, vStride, pStride), slabRows: slabRows)
    }
  }

  /// The body of `conv2dWinograd` on its scratch matrices: `u` holds the `16 · group` transformed
  /// filter matrices, `v` and `products` one slab's 16 transformed-input and product matrices,
  /// each set spaced by its stride in `strides`.
  static func winograd(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                       shape s: ConvShape, window: Window2D, clamp: Clamp?, y: UnsafeMutablePointer<Float>,
                       u: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                       products: UnsafeMutablePointer<Float>, strides: (Int, Int, Int), slabRows: Int) {
    let (cg, mg, h, w, oH, oW) = (s.cg, s.mg, s.h, s.w, s.oH, s.oW)
    let tilesH = (oH + 1) / 2, tilesW = (oW + 1) / 2
    let padTop = window.padTop, padLeft = window.padLeft
    let rowWidth = 2 * tilesW + 2
    let (uStride, vStride, pStride) = strides

    // U_ξ[m, c] = (G g Gᵀ)_ξ, G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
    parallelChunks(s.m, work: s.m * cg * 64) { filters in
      for f in filters {
        let g = f / mg, m = f % mg
        let row = u + g * 16 * uStride + m * cg
        let step = uStride
        for c in 0..<cg {
          let k = weight + (f * cg + c) * 9
          // a = G g (4×3), row by row.
          let a00 = k[0], a01 = k[1], a02 = k[2]
          let a10 = 0.5 * (k[0] + k[3] + k[6]), a11 = 0.5 * (k[1] + k[4] + k[7]), a12 = 0.5 * (k[2] + k[5] + k[8])
          let a20 = 0.5 * (k[0] - k[3] + k[6]), a21 = 0.5 * (k[1] - k[4] + k[7]), a22 = 0.5 * (k[2] - k[5] + k[8])
          let a30 = k[6], a31 = k[7], a32 = k[8]
          let q = row + c
          q[0 * step] = a00; q[1 * step] = 0.5 * (a00 + a01 + a02); q[2 * step] = 0.5 * (a00 - a01 + a02); q[3 * step] = a02
          q[4 * step] = a10; q[5 * step] = 0.5 * (a10 + a11 + a12); q[6 * step] = 0.5 * (a10 - a11 + a12); q[7 * step] = a12
          q[8 * step] = a20; q[9 * step] = 0.5 * (a20 + a21 + a22); q[10 * step] = 0.5 * (a20 - a21 + a22); q[11 * step] = a22
          q[12 * step] = a30; q[13 * step] = 0.5 * (a30 + a31 + a32); q[14 * step] = 0.5 * (a30 - a31 + a32); q[15 * step] = a32
        }
      }
    }

    for img in 0..<s.n {
      for g in 0..<s.group {
        let image = x + (img * s.c + g * cg) * h * w
        let out = y + (img * s.m + g * mg) * oH * oW
        for ty0 in stride(from: 0, to: tilesH, by: slabRows) {
          let ty1 = min(tilesH, ty0 + slabRows)
          let tiles = (ty1 - ty0) * tilesW

          // V_ξ[c, t] = (Bᵀ d B)_ξ, Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
          parallelChunks(cg, work: cg * tiles * 64) { channels in
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: 4 * rowWidth)
            defer { rows.deallocate() }
            let uLo = min(rowWidth, max(0, padLeft)), uHi = min(rowWidth, max(uLo, padLeft + w))
            for c in channels {
              let plane = image + c * h * w
              for ty in ty0..<ty1 {
                for q in 0..<4 {
                  let ih = 2 * ty - padTop + q
                  let row = rows + q * rowWidth
                  if ih < 0 || ih >= h || uLo == uHi {
                    row.update(repeating: 0, count: rowWidth)
                  } else {
                    if uLo > 0 { row.update(repeating: 0, count: uLo) }
                    (row + uLo).update(from: plane + ih * w + (uLo - padLeft), count: uHi - uLo)
                    if uHi < rowWidth { (row + uHi).update(repeating: 0, count: rowWidth - uHi) }
                  }
                }
                let r0 = rows, r1 = rows + rowWidth, r2 = rows + 2 * rowWidth, r3 = rows + 3 * rowWidth
                for i in 0..<rowWidth {
                  let d0 = r0[i], d1 = r1[i], d2 = r2[i], d3 = r3[i]
                  r0[i] = d0 - d2; r1[i] = d1 + d2; r2[i] = d2 - d1; r3[i] = d1 - d3
                }
                let t0 = (ty - ty0) * tilesW
                for q in 0..<4 {
                  let row = rows + q * rowWidth
                  let dst0 = v + (q * 4 + 0) * vStride + c * tiles + t0
                  let dst1 = v + (q * 4 + 1) * vStride + c * tiles + t0
                  let dst2 = v + (q * 4 + 2) * vStride + c * tiles + t0
                  let dst3 = v + (q * 4 + 3) * vStride + c * tiles + t0
                  var tx = 0
                  while tx + 8 <= tilesW {
                    let lo = UnsafeRawPointer(row + 2 * tx).loadUnaligned(as: SIMD16<Float>.self)
                    let hi = UnsafeRawPointer(row + 2 * tx + 2).loadUnaligned(as: SIMD16<Float>.self)
                    let a0 = lo.evenHalf, a1 = lo.oddHalf, a2 = hi.evenHalf, a3 = hi.oddHalf
                    UnsafeMutableRawPointer(dst0 + tx).storeBytes(of: a0 - a2, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(dst1 + tx).storeBytes(of: a1 + a2, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(dst2 + tx).storeBytes(of: a2 - a1, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(dst3 + tx).storeBytes(of: a1 - a3, as: SIMD8<Float>.self)
                    tx += 8
                  }
                  while tx < tilesW {
                    let a0 = row[2 * tx], a1 = row[2 * tx + 1], a2 = row[2 * tx + 2], a3 = row[2 * tx + 3]
                    dst0[tx] = a0 - a2; dst1[tx] = a1 + a2; dst2[tx] = a2 - a1; dst3[tx] = a1 - a3
                    tx += 1
                  }
                }
              }
            }
          }

          // The 16 products are independent: they go to the threads as they come free, each in
          // as many column blocks as make about four chunks per thread in all.
          let columnBlocks = tileBlocks(tiles, blocks: (4 * Kernels.threadCount + 15) / 16)
          ThreadPool.run(16 * columnBlocks.count) { chunk in
            let xi = chunk / columnBlocks.count, columns = columnBlocks[chunk % columnBlocks.count]
            sgemm(m: mg, n: columns.count, k: cg, a: u + (g * 16 + xi) * uStride, lda: cg,
                  b: v + xi * vStride + columns.lowerBound, ldb: tiles, beta: 0,
                  c: products + xi * pStride + columns.lowerBound, ldc: tiles)
          }

          // Y = Aᵀ M A, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
          parallelChunks(mg, work: mg * tiles * 32) { filters in
            for m in filters {
              let b: Float = bias?[g * mg + m] ?? 0
              let dst = out + m * oH * oW
              let step = pStride
              let source = UnsafePointer(products + m * tiles)
              for ty in ty0..<ty1 {
                let oh = 2 * ty
                let row0 = dst + oh * oW
                let fullRows = oh + 1 < oH
                var tx = 0
                let first = source + (ty - ty0) * tilesW
                if fullRows {
                  while tx + 8 <= tilesW && 2 * tx + 16 <= oW {
                    @inline(__always) func load(_ i: Int) -> SIMD8<Float> {
                      UnsafeRawPointer(first + tx + i * step).loadUnaligned(as: SIMD8<Float>.self)
                    }
                    let m0 = load(0), m1 = load(1), m2 = load(2), m3 = load(3)
                    let m4 = load(4), m5 = load(5), m6 = load(6), m7 = load(7)
                    let m8 = load(8), m9 = load(9), m10 = load(10), m11 = load(11)
                    let m12 = load(12), m13 = load(13), m14 = load(14), m15 = load(15)
                    let s00 = m0 + m4 + m8, s01 = m1 + m5 + m9, s02 = m2 + m6 + m10, s03 = m3 + m7 + m11
                    let s10 = m4 - m8 - m12, s11 = m5 - m9 - m13, s12 = m6 - m10 - m14, s13 = m7 - m11 - m15
                    var y00 = s00 + s01 + s02 + b, y01 = s01 - s02 - s03 + b
                    var y10 = s10 + s11 + s12 + b, y11 = s11 - s12 - s13 + b
                    if let clamp { (y00, y01, y10, y11) = (clamp(y00), clamp(y01), clamp(y10), clamp(y11)) }
                    var top = SIMD16<Float>(), bottom = SIMD16<Float>()
                    top.evenHalf = y00; top.oddHalf = y01
                    bottom.evenHalf = y10; bottom.oddHalf = y11
                    UnsafeMutableRawPointer(row0 + 2 * tx).storeBytes(of: top, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(row0 + oW + 2 * tx).storeBytes(of: bottom, as: SIMD16<Float>.self)
                    tx += 8
                  }
                }
                while tx < tilesW {
                  let q = first + tx
                  let m0 = q[0], m1 = q[step], m2 = q[2 * step], m3 = q[3 * step]
                  let m4 = q[4 * step], m5 = q[5 * step], m6 = q[6 * step], m7 = q[7 * step]
                  let m8 = q[8 * step], m9 = q[9 * step], m10 = q[10 * step], m11 = q[11 * step]
                  let m12 = q[12 * step], m13 = q[13 * step], m14 = q[14 * step], m15 = q[15 * step]
                  let s00 = m0 + m4 + m8, s01 = m1 + m5 + m9, s02 = m2 + m6 + m10, s03 = m3 + m7 + m11
                  let s10 = m4 - m8 - m12, s11 = m5 - m9 - m13, s12 = m6 - m10 - m14, s13 = m7 - m11 - m15
                  var y00 = s00 + s01 + s02 + b, y01 = s01 - s02 - s03 + b
                  var y10 = s10 + s11 + s12 + b, y11 = s11 - s12 - s13 + b
                  if let clamp { (y00, y01, y10, y11) = (clamp(y00), clamp(y01), clamp(y10), clamp(y11)) }
                  let ow = 2 * tx
                  let top = row0 + ow
                  top[0] = y00
                  if ow + 1 < oW { top[1] = y01 }
                  if fullRows {
                    top[oW] = y10
                    if ow + 1 < oW { top[oW + 1] = y11 }
                  }
                  tx += 1
                }
              }
            }
          }
        }
      }
    }
  }
}
