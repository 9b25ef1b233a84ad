// The gate, overlap and Pauli kernels, compiled once per SIMD target. CMake builds
// this file several times with QML_ARCH set to avx512, avx2 or portable and the
// matching compiler flags; simd.cpp picks one build at run time.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>
// The AVX2 build (not the AVX-512 one, which also defines __AVX2__) has kernels of
// its own written with intrinsics.
#if defined(__AVX2__) && !defined(__AVX512F__)
#define QML_AVX2_KERNELS 1
#endif
#if defined(__AVX2__)
#include <immintrin.h>
#endif
// Loops whose iterations touch disjoint amplitudes, for each compiler's vectoriser.
#if defined(__clang__)
#define QML_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define QML_IVDEP _Pragma("GCC ivdep")
#else
#define QML_IVDEP
#endif

#include "kernels.hpp"
#include "pool.hpp"

#ifndef QML_ARCH
#error "QML_ARCH must name the SIMD target"
#endif
#define QML_STR2(x) #x
#define QML_STR(x) QML_STR2(x)

namespace qml {
namespace QML_ARCH {
namespace {

// Overlap sums are kept in float over at most this many steps (registers or index
// groups), then added to double totals, which keeps their rounding error small.
constexpr index_t kFloatSumSteps = 256;

// The index loop of a gate: the bits that the gate fixes (targets and controls) are
// cut out of a counter; the free bits below the lowest fixed bit form a contiguous
// inner run, which the compiler vectorises.
struct Layout {
  int fixed[kMaxQubits] = {};
  int num_fixed = 0;
  index_t inner = 1;   // length of the contiguous run
  index_t outer = 1;   // number of runs
  index_t base_bits = 0;

  Layout(int num_qubits, const Gate& gate) {
    for (int j = 0; j < gate.num_targets; ++j) fixed[num_fixed++] = gate.targets[j];
    for (int b = 0; b < num_qubits; ++b)
      if ((gate.control_mask >> b) & 1) fixed[num_fixed++] = b;
    std::sort(fixed, fixed + num_fixed);
    inner = index_t(1) << fixed[0];
    outer = index_t(1) << (num_qubits - num_fixed - fixed[0]);
    base_bits = gate.control_bits;
  }

  index_t base(index_t run) const {
    index_t index = run << fixed[0];
    for (int k = 0; k < num_fixed; ++k) {
      const index_t low = (index_t(1) << fixed[k]) - 1;
      index = ((index & ~low) << 1) | (index & low);
    }
    return index | base_bits;
  }
};

// Runs body(begin, end, thread) over [0, total): directly on the calling thread,
// or split among the core's threads when `parallel` and the range is long enough.
// The serial path enters no parallel region, which costs microseconds per call when
// many small rows run in parallel already.
template <class Body>
void split_range(bool parallel, index_t total, Body body, index_t grain = 2048) {
  const int threads = parallel ? thread_count() : 1;
  if (threads <= 1 || total < grain) {
    body(index_t(0), total, 0);
    return;
  }
  const index_t chunk = (total + index_t(threads) - 1) / index_t(threads);
  parallel_chunks(threads, [&](int me) {
    body(std::min(total, index_t(me) * chunk), std::min(total, index_t(me + 1) * chunk), me);
  });
}

// Calls run(base, begin, end, thread) over every run of a gate's index loop, split
// among threads by runs when there are many and within runs otherwise.
template <class Run>
void split_layout(bool parallel, const Layout& layout, Run run) {
  const index_t threads = parallel ? index_t(thread_count()) : 1;
  if (layout.outer >= 4 * threads) {
    split_range(parallel, layout.outer, [&](index_t begin, index_t end, int t) {
      for (index_t r = begin; r < end; ++r) run(layout.base(r), index_t(0), layout.inner, t);
    }, std::max<index_t>(1, 2048 / layout.inner));
    return;
  }
  for (index_t r = 0; r < layout.outer; ++r) {
    const index_t base = layout.base(r);
    split_range(parallel, layout.inner, [&](index_t begin, index_t end, int t) {
      run(base, begin, end, t);
    });
  }
}

// ---- Gates on the lowest bits, sixteen amplitudes at a time --------------------------
// A gate whose lowest fixed bit (target or control) is below kLowestRunBit has runs
// of contiguous amplitudes too short to fill a register. Such a gate is applied block
// by block instead: a block is 16 consecutive amplitudes (index bits 0-3) held as 16
// real and 16 imaginary parts, and each output amplitude is a sum over the gate's
// columns of a coefficient vector times a lane permutation of an input block. Targets above bit 3
// select which blocks are combined; controls below bit 4 fold into the coefficients
// (identity on lanes that fail them), and those above select the blocks visited.
constexpr int kBlockBits = 4;
// Gates whose lowest target or control is below this bit run block by block; above it,
// their runs of contiguous amplitudes fill the other kernels' registers. With AVX2
// those hold four amplitudes (bits 0 and 1).
#ifdef QML_AVX2_KERNELS
constexpr int kLowestRunBit = 2;
#else
constexpr int kLowestRunBit = 3;
#endif

#ifdef QML_AVX2_KERNELS
// Without AVX-512, gcc lowers 64-byte vector types poorly: a 16-lane shuffle becomes
// one scalar move per lane, and values pass through memory. So this build holds sixteen
// lanes as two __m256 halves, with the few operations the block kernels use.
struct v16f {
  __m256 half[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  // Through a pointer, since Clang binds no reference to a vector's element.
  float& operator[](int lane) { return reinterpret_cast<float*>(half)[lane]; }
  float operator[](int lane) const { return reinterpret_cast<const float*>(half)[lane]; }
};
typedef std::int32_t v8i __attribute__((vector_size(32)));
struct v16i {
  v8i half[2] = {};
  std::int32_t& operator[](int lane) { return reinterpret_cast<std::int32_t*>(half)[lane]; }
  std::int32_t operator[](int lane) const {
    return reinterpret_cast<const std::int32_t*>(half)[lane];
  }
};
#define QML_V16_OPERATOR(op, intrinsic)                                       \
  inline v16f operator op(const v16f& a, const v16f& b) {                    \
    v16f out;                                                                  \
    out.half[0] = intrinsic(a.half[0], b.half[0]);                             \
    out.half[1] = intrinsic(a.half[1], b.half[1]);                             \
    return out;                                                                \
  }                                                                            \
  inline v16f& operator op##=(v16f& a, const v16f& b) { return a = a op b; }
QML_V16_OPERATOR(+, _mm256_add_ps)
QML_V16_OPERATOR(-, _mm256_sub_ps)
QML_V16_OPERATOR(*, _mm256_mul_ps)
#undef QML_V16_OPERATOR

// Lane l of the result is lane index[l] (0 to 15) of x.
inline v16f permute(const v16f& x, const v16i& index) {
  v16f out;
  for (int h = 0; h < 2; ++h) {
    const __m256i i = __m256i(index.half[h]);
    // permutevar8x32 reads the index's low three bits; bit 3 picks the half.
    out.half[h] = _mm256_blendv_ps(_mm256_permutevar8x32_ps(x.half[0], i),
                                   _mm256_permutevar8x32_ps(x.half[1], i),
                                   _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
  }
  return out;
}

// Sixteen interleaved complex amplitudes at `at` as real and imaginary lanes.
inline void load_block(const float* at, v16f& re, v16f& im) {
  for (int h = 0; h < 2; ++h) {
    const __m256 a = _mm256_loadu_ps(at + 16 * h), b = _mm256_loadu_ps(at + 16 * h + 8);
    // Within 128-bit halves: (r0 r1 r4 r5 | r2 r3 r6 r7); the 64-bit permute orders them.
    re.half[h] = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    im.half[h] = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
  }
}

inline void store_block(float* at, const v16f& re, const v16f& im) {
  for (int h = 0; h < 2; ++h) {
    const __m256 low = _mm256_unpacklo_ps(re.half[h], im.half[h]);   // r0 i0 r1 i1 | r4 i4 r5 i5
    const __m256 high = _mm256_unpackhi_ps(re.half[h], im.half[h]);  // r2 i2 r3 i3 | r6 i6 r7 i7
    _mm256_storeu_ps(at + 16 * h, _mm256_permute2f128_ps(low, high, 0x20));
    _mm256_storeu_ps(at + 16 * h + 8, _mm256_permute2f128_ps(low, high, 0x31));
  }
}
#else
typedef float v16f __attribute__((vector_size(64)));
typedef std::int32_t v16i __attribute__((vector_size(64)));

// Lane l of the result is lane index[l] (0 to 15) of x. GCC shuffles by a run-time
// index; Clang's builtin takes constant indices only.
inline v16f permute(v16f x, v16i index) {
#if !defined(__clang__)
  return __builtin_shuffle(x, index);
#elif defined(__AVX512F__)
  return v16f(_mm512_permutexvar_ps(__m512i(index), __m512(x)));
#else
  v16f out;
  for (int lane = 0; lane < 16; ++lane) out[lane] = x[index[lane] & 15];
  return out;
#endif
}

inline void load_block(const float* at, v16f& re, v16f& im) {
  v16f a, b;
  std::memcpy(&a, at, sizeof a);
  std::memcpy(&b, at + 16, sizeof b);
#if defined(__clang__)
  re = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  im = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#else
  const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  re = __builtin_shuffle(a, b, even);
  im = __builtin_shuffle(a, b, even + 1);
#endif
}

inline void store_block(float* at, v16f re, v16f im) {
#if defined(__clang__)
  const v16f a = __builtin_shufflevector(re, im, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const v16f b = __builtin_shufflevector(re, im, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                         15, 31);
#else
  const v16i low = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  const v16f a = __builtin_shuffle(re, im, low), b = __builtin_shuffle(re, im, low + 8);
#endif
  std::memcpy(at, &a, sizeof a);
  std::memcpy(at + 16, &b, sizeof b);
}
#endif

struct LowPlan {
  int dim = 0, dim_high = 1, dim_low = 1;
  index_t high_offset[kMaxDim];  // amplitude offset of each value of the high targets
  v16i source[kMaxDim];          // per value of the low targets: the lane it reads
  v16f re[kMaxDim * kMaxDim];    // coefficient (hi, hj, jv) at [(hi * dim_high + hj) * dim_low + jv]
  v16f im[kMaxDim * kMaxDim];
  v16i row[kMaxDim];             // per hi: each lane's matrix row, -1 where a control fails
  int column[kMaxDim][kMaxDim];  // [hj][jv]: matrix column
  int fixed[kMaxQubits] = {};    // block-index bits that high targets and controls fix
  int num_fixed = 0;
  index_t outer = 0;             // blocks visited per high value
  index_t base_bits = 0;         // required high control values, in block-index bits

  static bool wanted(int num_qubits, const Gate& gate) {
    if (num_qubits <= kBlockBits) return false;
    int lowest = num_qubits;
    for (int t = 0; t < gate.num_targets; ++t) lowest = std::min(lowest, gate.targets[t]);
    if (gate.control_mask) lowest = std::min(lowest, __builtin_ctzll(gate.control_mask));
    return lowest < kLowestRunBit;
  }

  LowPlan(int num_qubits, const Gate& gate, bool adjoint) {
    const int k = gate.num_targets;
    dim = 1 << k;
    int low[kMaxTargets], high[kMaxTargets], num_low = 0, num_high = 0;
    for (int t = 0; t < k; ++t)
      (gate.targets[t] < kBlockBits ? low[num_low++] : high[num_high++]) = t;
    dim_low = 1 << num_low;
    dim_high = 1 << num_high;
    int high_row[kMaxDim];  // a high value's contribution to a matrix index
    for (int hv = 0; hv < dim_high; ++hv) {
      high_offset[hv] = 0;
      high_row[hv] = 0;
      for (int b = 0; b < num_high; ++b)
        if ((hv >> b) & 1) {
          high_offset[hv] |= index_t(1) << gate.targets[high[b]];
          high_row[hv] |= 1 << (k - 1 - high[b]);
        }
    }
    index_t low_mask = 0;
    for (int b = 0; b < num_low; ++b) low_mask |= index_t(1) << gate.targets[low[b]];
    const index_t control_mask = gate.control_mask & 15, control_bits = gate.control_bits & 15;
    int lane_row[16], lane_value[16];  // a lane's low contribution to a matrix row, its jv
    bool lane_ok[16];
    for (int l = 0; l < 16; ++l) {
      lane_row[l] = lane_value[l] = 0;
      for (int b = 0; b < num_low; ++b)
        if ((l >> gate.targets[low[b]]) & 1) {
          lane_row[l] |= 1 << (k - 1 - low[b]);
          lane_value[l] |= 1 << b;
        }
      lane_ok[l] = (index_t(l) & control_mask) == control_bits;
    }
    int value_column[kMaxDim];  // a low value's contribution to a matrix column
    for (int jv = 0; jv < dim_low; ++jv) {
      value_column[jv] = 0;
      index_t placed = 0;
      for (int b = 0; b < num_low; ++b)
        if ((jv >> b) & 1) {
          value_column[jv] |= 1 << (k - 1 - low[b]);
          placed |= index_t(1) << gate.targets[low[b]];
        }
      for (int l = 0; l < 16; ++l) source[jv][l] = std::int32_t((index_t(l) & ~low_mask) | placed);
    }
    for (int hi = 0; hi < dim_high; ++hi)
      for (int l = 0; l < 16; ++l) row[hi][l] = lane_ok[l] ? high_row[hi] | lane_row[l] : -1;
    for (int hj = 0; hj < dim_high; ++hj)
      for (int jv = 0; jv < dim_low; ++jv) column[hj][jv] = high_row[hj] | value_column[jv];
    for (int hi = 0; hi < dim_high; ++hi)
      for (int hj = 0; hj < dim_high; ++hj)
        for (int jv = 0; jv < dim_low; ++jv) {
          const int e = (hi * dim_high + hj) * dim_low + jv, c = column[hj][jv];
          for (int l = 0; l < 16; ++l) {
            cfloat m;
            if (lane_ok[l]) {
              const int r = high_row[hi] | lane_row[l];
              m = adjoint ? std::conj(gate.matrix[c * dim + r]) : gate.matrix[r * dim + c];
            } else {
              m = (hi == hj && jv == lane_value[l]) ? cfloat(1.f) : cfloat(0.f);
            }
            re[e][l] = m.real();
            im[e][l] = m.imag();
          }
        }
    for (int b = 0; b < num_high; ++b) fixed[num_fixed++] = gate.targets[high[b]] - kBlockBits;
    for (int b = kBlockBits; b < num_qubits; ++b)
      if ((gate.control_mask >> b) & 1) fixed[num_fixed++] = b - kBlockBits;
    std::sort(fixed, fixed + num_fixed);
    outer = index_t(1) << (num_qubits - kBlockBits - num_fixed);
    base_bits = (gate.control_bits & ~index_t(15)) >> kBlockBits;
  }

  // Amplitude index of block r's first amplitude (high values all 0).
  index_t first(index_t r) const {
    index_t index = r;
    for (int k = 0; k < num_fixed; ++k) {
      const index_t low = (index_t(1) << fixed[k]) - 1;
      index = ((index & ~low) << 1) | (index & low);
    }
    return (index | base_bits) << kBlockBits;
  }

  // out[hi] = sum over hj, jv of coefficient (hi, hj, jv) times in[hj] read at source[jv].
  void multiply(const v16f* in_re, const v16f* in_im, v16f* out_re, v16f* out_im) const {
    for (int hi = 0; hi < dim_high; ++hi) out_re[hi] = out_im[hi] = v16f{};
    for (int hj = 0; hj < dim_high; ++hj)
      for (int jv = 0; jv < dim_low; ++jv) {
        const v16f pr = permute(in_re[hj], source[jv]), pi = permute(in_im[hj], source[jv]);
        for (int hi = 0; hi < dim_high; ++hi) {
          const int e = (hi * dim_high + hj) * dim_low + jv;
          out_re[hi] += re[e] * pr - im[e] * pi;
          out_im[hi] += re[e] * pi + im[e] * pr;
        }
      }
  }
};

#ifdef QML_AVX2_KERNELS
// ---- AVX2: gates on bits 0 to 2, within two registers --------------------------------
// A register holds four amplitudes (bits 0 and 1), so a gate whose targets all lie in
// bits 0-2 mixes amplitudes within a pair of registers and no others. Written as
// out_i = sum over s of A[i][i ^ s] v[i ^ s] (s running over the subsets of the target
// bits), each term is one register's lanes permuted by s (s & 1 swaps neighbouring
// amplitudes, s & 2 the two halves; s & 4 takes the other register) times a
// coefficient register. Such a gate then costs what one on high bits does, where the
// 16-amplitude block kernels spend several shuffles per product.
struct RegisterGate {
  int mask = 0;               // the target bits
  int num_terms = 0;          // one per subset s of mask, ascending
  __m256 re[kMaxDim][2], im[kMaxDim][2];  // term t, output register h: lanes 2l, 2l + 1
                                          // hold Re (Im) A[i][i ^ s], i = 4 h + l
  int index[8];               // matrix index of amplitude i of a group of eight

  static bool wanted(int num_qubits, const Gate& gate) {
    if (num_qubits < 3 || gate.control_mask) return false;
    for (int t = 0; t < gate.num_targets; ++t)
      if (gate.targets[t] > 2) return false;
    return true;
  }

  RegisterGate(const Gate& gate, bool adjoint) {
    const int k = gate.num_targets, dim = 1 << k;
    for (int t = 0; t < k; ++t) mask |= 1 << gate.targets[t];
    for (int i = 0; i < 8; ++i) {
      index[i] = 0;
      for (int t = 0; t < k; ++t) index[i] |= ((i >> gate.targets[t]) & 1) << (k - 1 - t);
    }
    for (int shift_bits = 0; shift_bits < 8; ++shift_bits) {
      if (shift_bits & ~mask) continue;
      for (int h = 0; h < 2; ++h) {
        alignas(32) float r[8], m[8];
        for (int l = 0; l < 4; ++l) {
          const int a = index[4 * h + l], b = index[(4 * h + l) ^ shift_bits];
          const cfloat e = adjoint ? std::conj(gate.matrix[b * dim + a]) : gate.matrix[a * dim + b];
          r[2 * l] = r[2 * l + 1] = e.real();
          m[2 * l] = m[2 * l + 1] = e.imag();
        }
        re[num_terms][h] = _mm256_load_ps(r);
        im[num_terms][h] = _mm256_load_ps(m);
      }
      ++num_terms;
    }
  }

  // moved[h][p]: register h with lane l moved to lane l ^ p, for p = 0..3.
  static void permutations(const float* at, __m256 (*moved)[4]) {
    for (int h = 0; h < 2; ++h) {
      const __m256 v = _mm256_loadu_ps(at + 8 * h);
      moved[h][0] = v;
      moved[h][1] = _mm256_permute_ps(v, 0x4E);  // (1 0 3 2) in complex pairs
      moved[h][2] = _mm256_permute2f128_ps(v, v, 0x01);
      moved[h][3] = _mm256_permute_ps(moved[h][2], 0x4E);
    }
  }

  // The hot loops take the target bits as a template argument (Mask), so that the
  // terms unroll and the permuted registers stay in registers.
  template <int Mask>
  void times(const __m256 (*moved)[4], float* out) const {
    for (int h = 0; h < 2; ++h) {
      __m256 by_re = _mm256_setzero_ps(), by_im = _mm256_setzero_ps();
      for (int s = 0, t = 0; s < 8; ++s) {
        if (s & ~Mask) continue;
        const __m256 v = moved[h ^ (s >> 2)][s & 3];
        by_re = _mm256_fmadd_ps(re[t][h], v, by_re);
        by_im = _mm256_fmadd_ps(im[t][h], _mm256_permute_ps(v, 0xB1), by_im);
        ++t;
      }
      _mm256_storeu_ps(out + 8 * h, _mm256_addsub_ps(by_re, by_im));
    }
  }
};

template <int Mask>
void apply_register_d(float* data, int num_qubits, const RegisterGate& g, bool parallel) {
  split_range(parallel, index_t(1) << (num_qubits - 3), [&](index_t begin, index_t end, int) {
    for (index_t r = begin; r < end; ++r) {
      __m256 moved[2][4];
      RegisterGate::permutations(data + 16 * r, moved);
      g.times<Mask>(moved, data + 16 * r);
    }
  }, 256);
}

// unapply_pair for such a gate. Term t's overlap sum, lane l of output register h, is
// conj(lambda before at i ^ s) psi after at i, i = 4 h + l: entry
// (index[i ^ s], index[i]), held as (real, imaginary) pairs.
template <int Mask>
void unapply_pair_register_d(float* psi, float* lambda, int num_qubits, const Gate& gate,
                             const RegisterGate& g, cdouble* overlap, bool parallel) {
  const int threads = parallel ? thread_count() : 1;
  constexpr int kSums = kMaxDim * 2 * 8;  // term, output register, lane
  std::vector<std::array<double, kSums>> totals(overlap ? threads : 0);
  split_range(parallel, index_t(1) << (num_qubits - 3), [&](index_t begin, index_t end, int t) {
    const __m256 odd_sign = _mm256_setr_ps(0.f, -0.f, 0.f, -0.f, 0.f, -0.f, 0.f, -0.f);
    __m256 sum[kMaxDim][2];
    for (int e = 0; e < g.num_terms; ++e) sum[e][0] = sum[e][1] = _mm256_setzero_ps();
    auto flush = [&]() {
      for (int e = 0; e < g.num_terms; ++e)
        for (int h = 0; h < 2; ++h) {
          alignas(32) float lanes[8];
          _mm256_store_ps(lanes, sum[e][h]);
          for (int w = 0; w < 8; ++w) totals[t][(e * 2 + h) * 8 + w] += lanes[w];
          sum[e][h] = _mm256_setzero_ps();
        }
    };
    for (index_t r = begin; r < end; ++r) {
      __m256 p[2][4], l[2][4];
      RegisterGate::permutations(psi + 16 * r, p);
      RegisterGate::permutations(lambda + 16 * r, l);
      g.times<Mask>(p, psi + 16 * r);
      g.times<Mask>(l, lambda + 16 * r);
      if (!overlap) continue;
      for (int h = 0; h < 2; ++h) {
        const __m256 q = _mm256_loadu_ps(psi + 16 * r + 8 * h);
        const __m256 qs = _mm256_permute_ps(q, 0xB1);
        for (int s = 0, e = 0; s < 8; ++s) {
          if (s & ~Mask) continue;
          const __m256 before = l[h ^ (s >> 2)][s & 3];
          sum[e][h] = _mm256_fmadd_ps(_mm256_moveldup_ps(before), q, sum[e][h]);
          sum[e][h] = _mm256_fmadd_ps(_mm256_xor_ps(_mm256_movehdup_ps(before), odd_sign), qs,
                                      sum[e][h]);
          ++e;
        }
      }
      if ((r - begin + 1) % kFloatSumSteps == 0) flush();
    }
    if (overlap) flush();
  }, 256);
  const int dim = 1 << gate.num_targets;
  for (const std::array<double, kSums>& total : totals)
    for (int s = 0, e = 0; s < 8; ++s) {
      if (s & ~Mask) continue;
      for (int i = 0; i < 8; ++i) {
        const int at = (e * 2 + (i >> 2)) * 8 + 2 * (i & 3);
        overlap[g.index[i ^ s] * dim + g.index[i]] += cdouble(total[at], total[at + 1]);
      }
      ++e;
    }
}

// Calls call(M) with the gate's target bits as the constant M.
#define QML_REGISTER_MASKS(call) \
  switch (g.mask) {                \
    case 1: return call(1);        \
    case 2: return call(2);        \
    case 3: return call(3);        \
    case 4: return call(4);        \
    case 5: return call(5);        \
    case 6: return call(6);        \
    default: return call(7);       \
  }

void apply_register(float* data, int num_qubits, const Gate& gate, bool adjoint, bool parallel) {
  const RegisterGate g(gate, adjoint);
#define QML_CALL(M) apply_register_d<M>(data, num_qubits, g, parallel)
  QML_REGISTER_MASKS(QML_CALL)
#undef QML_CALL
}

void unapply_pair_register(float* psi, float* lambda, int num_qubits, const Gate& gate,
                           cdouble* overlap, bool parallel) {
  const RegisterGate g(gate, true);
#define QML_CALL(M) unapply_pair_register_d<M>(psi, lambda, num_qubits, gate, g, overlap, parallel)
  QML_REGISTER_MASKS(QML_CALL)
#undef QML_CALL
}
#undef QML_REGISTER_MASKS
#endif

void apply_low(float* data, int num_qubits, const Gate& gate, bool adjoint, bool parallel) {
  const LowPlan plan(num_qubits, gate, adjoint);
  split_range(parallel, plan.outer, [&](index_t begin, index_t end, int) {
    v16f in_re[kMaxDim], in_im[kMaxDim], out_re[kMaxDim], out_im[kMaxDim];
    for (index_t r = begin; r < end; ++r) {
      const index_t first = plan.first(r);
      for (int h = 0; h < plan.dim_high; ++h)
        load_block(data + 2 * (first + plan.high_offset[h]), in_re[h], in_im[h]);
      plan.multiply(in_re, in_im, out_re, out_im);
      for (int h = 0; h < plan.dim_high; ++h)
        store_block(data + 2 * (first + plan.high_offset[h]), out_re[h], out_im[h]);
    }
  }, 256);
}

// unapply_pair for a gate on the lowest bits; overlap as unapply_pair_d.
void unapply_pair_low(float* psi, float* lambda, int num_qubits, const Gate& gate,
                      cdouble* overlap, bool parallel) {
  const LowPlan plan(num_qubits, gate, true);
  const int terms = plan.dim_high * plan.dim_high * plan.dim_low;
  std::vector<cdouble> totals(overlap ? std::size_t(thread_count()) * plan.dim * plan.dim : 0);
  split_range(parallel, plan.outer, [&](index_t begin, index_t end, int t) {
    v16f p_re[kMaxDim], p_im[kMaxDim], l_re[kMaxDim], l_im[kMaxDim];
    v16f q_re[kMaxDim], q_im[kMaxDim], u_re[kMaxDim], u_im[kMaxDim];
    v16f sum_re[kMaxDim * kMaxDim], sum_im[kMaxDim * kMaxDim];
    v16f ok[kMaxDim];  // per hi: 1 on lanes whose controls hold
    for (int h = 0; h < plan.dim_high; ++h)
      for (int l = 0; l < 16; ++l) ok[h][l] = plan.row[h][l] >= 0 ? 1.f : 0.f;
    auto flush = [&]() {
      cdouble* total = totals.data() + std::size_t(t) * plan.dim * plan.dim;
      for (int hi = 0; hi < plan.dim_high; ++hi)
        for (int hj = 0; hj < plan.dim_high; ++hj)
          for (int jv = 0; jv < plan.dim_low; ++jv) {
            const int e = (hi * plan.dim_high + hj) * plan.dim_low + jv;
            const int column = plan.column[hj][jv];
            for (int l = 0; l < 16; ++l)
              if (plan.row[hi][l] >= 0)
                total[plan.row[hi][l] * plan.dim + column] += cdouble(sum_re[e][l], sum_im[e][l]);
            sum_re[e] = v16f{};
            sum_im[e] = v16f{};
          }
    };
    for (int e = 0; e < terms; ++e) sum_re[e] = sum_im[e] = v16f{};
    for (index_t r = begin; r < end; ++r) {
      const index_t first = plan.first(r);
      for (int h = 0; h < plan.dim_high; ++h) {
        load_block(psi + 2 * (first + plan.high_offset[h]), p_re[h], p_im[h]);
        load_block(lambda + 2 * (first + plan.high_offset[h]), l_re[h], l_im[h]);
      }
      plan.multiply(p_re, p_im, q_re, q_im);
      plan.multiply(l_re, l_im, u_re, u_im);
      for (int h = 0; h < plan.dim_high; ++h) {
        store_block(psi + 2 * (first + plan.high_offset[h]), q_re[h], q_im[h]);
        store_block(lambda + 2 * (first + plan.high_offset[h]), u_re[h], u_im[h]);
      }
      if (!overlap) continue;
      // conj(lambda before, row hi) times psi after (column hj, jv), lane by lane.
      for (int hi = 0; hi < plan.dim_high; ++hi) {
        l_re[hi] *= ok[hi];
        l_im[hi] *= ok[hi];
      }
      for (int hj = 0; hj < plan.dim_high; ++hj)
        for (int jv = 0; jv < plan.dim_low; ++jv) {
          const v16f qr = permute(q_re[hj], plan.source[jv]);
          const v16f qi = permute(q_im[hj], plan.source[jv]);
          for (int hi = 0; hi < plan.dim_high; ++hi) {
            const int e = (hi * plan.dim_high + hj) * plan.dim_low + jv;
            sum_re[e] += l_re[hi] * qr + l_im[hi] * qi;
            sum_im[e] += l_re[hi] * qi - l_im[hi] * qr;
          }
        }
      if ((r - begin + 1) % kFloatSumSteps == 0) flush();
    }
    if (overlap) flush();
  }, 256);
  if (!overlap) return;
  for (int t = 0; t < int(totals.size()) / (plan.dim * plan.dim); ++t)
    for (int e = 0; e < plan.dim * plan.dim; ++e) overlap[e] += totals[std::size_t(t) * plan.dim * plan.dim + e];
}

// The number of targets of a gate on D amplitudes.
template <int D>
constexpr int kTargetsOf = D == 2 ? 1 : D == 4 ? 2 : D == 8 ? 3 : 4;

template <int D>
struct Matrix {
  float re[D][D];
  float im[D][D];
  index_t offsets[D];

  Matrix(const Gate& gate, bool adjoint) {
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) {
        const cfloat m = adjoint ? std::conj(gate.matrix[j * D + i]) : gate.matrix[i * D + j];
        re[i][j] = m.real();
        im[i][j] = m.imag();
      }
    for (int a = 0; a < D; ++a) offsets[a] = target_offset(gate, a, kTargetsOf<D>);
  }
};

template <int D>
inline void apply_run(float* __restrict state, index_t base, index_t begin, index_t end,
                      const Matrix<D>& m) {
  float* at[D];
  for (int j = 0; j < D; ++j) at[j] = state + 2 * (base + m.offsets[j]);
#ifdef QML_AVX2_KERNELS
  // Four amplitudes at a time, as they lie in memory (see unapply_chunks): gcc's own
  // vectorisation of the loop below splits real and imaginary parts, and does not
  // vectorise runs as short as four or eight amplitudes at all.
  for (; begin + 4 <= end; begin += 4) {
    __m256 v[D], vs[D];
    for (int j = 0; j < D; ++j) {
      v[j] = _mm256_loadu_ps(at[j] + 2 * begin);
      vs[j] = _mm256_permute_ps(v[j], 0xB1);
    }
    for (int i = 0; i < D; ++i) {
      __m256 by_re = _mm256_setzero_ps(), by_im = _mm256_setzero_ps();
      for (int j = 0; j < D; ++j) {
        by_re = _mm256_fmadd_ps(_mm256_set1_ps(m.re[i][j]), v[j], by_re);
        by_im = _mm256_fmadd_ps(_mm256_set1_ps(m.im[i][j]), vs[j], by_im);
      }
      _mm256_storeu_ps(at[i] + 2 * begin, _mm256_addsub_ps(by_re, by_im));
    }
  }
#endif
  // The D amplitudes of one index never overlap another index's: no dependences.
QML_IVDEP
  for (index_t lo = begin; lo < end; ++lo) {
    float vr[D], vi[D];
    for (int j = 0; j < D; ++j) {
      vr[j] = at[j][2 * lo];
      vi[j] = at[j][2 * lo + 1];
    }
    for (int i = 0; i < D; ++i) {
      float r = 0.f, s = 0.f;
      for (int j = 0; j < D; ++j) {
        r += m.re[i][j] * vr[j] - m.im[i][j] * vi[j];
        s += m.re[i][j] * vi[j] + m.im[i][j] * vr[j];
      }
      at[i][2 * lo] = r;
      at[i][2 * lo + 1] = s;
    }
  }
}

template <int D>
void apply_d(cfloat* state, int num_qubits, const Gate& gate, bool adjoint, bool parallel) {
  const Matrix<D> m(gate, adjoint);
  const Layout layout(num_qubits, gate);
  float* data = reinterpret_cast<float*>(state);
  split_layout(parallel, layout, [&](index_t base, index_t begin, index_t end, int) {
    apply_run<D>(data, base, begin, end, m);
  });
}

void apply_dense(cfloat* state, int num_qubits, const Gate& gate, bool adjoint, bool parallel) {
#ifdef QML_AVX2_KERNELS
  if (RegisterGate::wanted(num_qubits, gate))
    return apply_register(reinterpret_cast<float*>(state), num_qubits, gate, adjoint, parallel);
#endif
  if (LowPlan::wanted(num_qubits, gate))
    return apply_low(reinterpret_cast<float*>(state), num_qubits, gate, adjoint, parallel);
  switch (gate.num_targets) {
    case 1: return apply_d<2>(state, num_qubits, gate, adjoint, parallel);
    case 2: return apply_d<4>(state, num_qubits, gate, adjoint, parallel);
    case 3: return apply_d<8>(state, num_qubits, gate, adjoint, parallel);
    default: return apply_d<16>(state, num_qubits, gate, adjoint, parallel);
  }
}

// Whether a gate's matrix is diagonal; if so, its diagonal (conjugated with `adjoint`)
// goes to `diagonal`.
bool diagonal_of(const Gate& gate, bool adjoint, cfloat* diagonal) {
  const int dim = 1 << gate.num_targets;
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j)
      if (i != j && gate.matrix[i * dim + j] != cfloat(0.f, 0.f)) return false;
  for (int i = 0; i < dim; ++i)
    diagonal[i] = adjoint ? std::conj(gate.matrix[i * dim + i]) : gate.matrix[i * dim + i];
  return true;
}

// The amplitude offsets of a gate's diagonal entries that are not 1, with the entries.
int scaled_entries(const Gate& gate, const cfloat* diagonal, index_t* offsets, cfloat* entries) {
  int count = 0;
  for (int j = 0; j < (1 << gate.num_targets); ++j) {
    if (diagonal[j] == cfloat(1.f, 0.f)) continue;
    offsets[count] = target_offset(gate, j);
    entries[count++] = diagonal[j];
  }
  return count;
}

// A diagonal gate whose lowest target or control lies below kScaleTileBits has runs
// too short to loop over (a CZ on bits 4 and 3 took three times a dense gate's time):
// the state is then scaled in tiles of 2^kScaleTileBits consecutive amplitudes, each
// multiplied by a factor pattern chosen by the tile's values of the gate's higher
// targets. A tile whose pattern is all ones, or whose higher controls fail, is skipped.
constexpr int kScaleTileBits = 6;
constexpr int kScaleTile = 1 << kScaleTileBits;

struct ScaleTiles {
  alignas(64) float re[kMaxDim][kScaleTile];  // pattern p: the factor of amplitude l of
  alignas(64) float im[kMaxDim][kScaleTile];  // a tile, p from the tile's higher targets
  bool ones[kMaxDim];
  index_t high_targets[kMaxTargets];  // index bit of each higher target, or 0
  int high_place[kMaxTargets];        // its bit in the diagonal's index
  int num_high = 0;
  index_t control_mask, control_bits;  // higher controls

  static bool wanted(int num_qubits, const Gate& gate) {
    if (num_qubits < kScaleTileBits) return false;
    const index_t low = (index_t(1) << kScaleTileBits) - 1;
    if (gate.control_mask & low) return true;
    for (int t = 0; t < gate.num_targets; ++t)
      if (gate.targets[t] < kScaleTileBits) return true;
    return false;
  }

  ScaleTiles(const Gate& gate, const cfloat* diagonal) {
    const int k = gate.num_targets;
    const index_t low = (index_t(1) << kScaleTileBits) - 1;
    control_mask = gate.control_mask & ~low;
    control_bits = gate.control_bits & ~low;
    int low_place[kMaxTargets], low_bit[kMaxTargets], num_low = 0, pattern_bits = 0;
    for (int t = 0; t < k; ++t) {
      if (gate.targets[t] < kScaleTileBits) {
        low_bit[num_low] = gate.targets[t];
        low_place[num_low++] = k - 1 - t;
      } else {
        high_targets[num_high] = index_t(1) << gate.targets[t];
        high_place[num_high++] = k - 1 - t;
        pattern_bits |= 1 << (k - 1 - t);
      }
    }
    for (int p = 0; p < (1 << k); ++p) {
      ones[p] = true;
      if (p & ~pattern_bits) continue;  // not a value of the higher targets alone
      for (int l = 0; l < kScaleTile; ++l) {
        cfloat factor(1.f, 0.f);
        if ((index_t(l) & gate.control_mask & low) == (gate.control_bits & low)) {
          int entry = p;
          for (int b = 0; b < num_low; ++b)
            if ((l >> low_bit[b]) & 1) entry |= 1 << low_place[b];
          factor = diagonal[entry];
        }
        re[p][l] = factor.real();
        im[p][l] = factor.imag();
        ones[p] = ones[p] && factor == cfloat(1.f, 0.f);
      }
    }
  }

  // The pattern of the tile starting at amplitude `first`, or -1 to skip it.
  int pattern(index_t first) const {
    if ((first & control_mask) != control_bits) return -1;
    int p = 0;
    for (int b = 0; b < num_high; ++b)
      if (first & high_targets[b]) p |= 1 << high_place[b];
    return ones[p] ? -1 : p;
  }
};

// state <- D state for a diagonal D (2^k entries) on the gate's targets under its
// controls: only the amplitudes whose entry is not 1 are read and written.
void scale(cfloat* state, int num_qubits, const Gate& gate, const cfloat* diagonal,
           bool parallel) {
  float* data = reinterpret_cast<float*>(state);
  if (ScaleTiles::wanted(num_qubits, gate)) {
    const ScaleTiles tiles(gate, diagonal);
    split_range(parallel, index_t(1) << (num_qubits - kScaleTileBits),
                [&](index_t begin, index_t end, int) {
      for (index_t r = begin; r < end; ++r) {
        const int p = tiles.pattern(r << kScaleTileBits);
        if (p < 0) continue;
        float* __restrict v = data + 2 * (r << kScaleTileBits);
        const float* __restrict fr = tiles.re[p];
        const float* __restrict fi = tiles.im[p];
#pragma omp simd
        for (int l = 0; l < kScaleTile; ++l) {
          const float x = v[2 * l], y = v[2 * l + 1];
          v[2 * l] = fr[l] * x - fi[l] * y;
          v[2 * l + 1] = fr[l] * y + fi[l] * x;
        }
      }
    }, 64);
    return;
  }
  index_t offsets[kMaxDim];
  cfloat entries[kMaxDim];
  const int count = scaled_entries(gate, diagonal, offsets, entries);
  if (count == 0) return;
  const Layout layout(num_qubits, gate);
  split_layout(parallel, layout, [&](index_t base, index_t begin, index_t end, int) {
    for (int c = 0; c < count; ++c) {
      float* __restrict p = data + 2 * (base + offsets[c]);
      const float dr = entries[c].real(), di = entries[c].imag();
#pragma omp simd
      for (index_t i = begin; i < end; ++i) {
        const float x = p[2 * i], y = p[2 * i + 1];
        p[2 * i] = dr * x - di * y;
        p[2 * i + 1] = dr * y + di * x;
      }
    }
  });
}

void apply(cfloat* state, int num_qubits, const Gate& gate, bool adjoint, bool parallel) {
  cfloat diagonal[kMaxDim];
  if (diagonal_of(gate, adjoint, diagonal)) return scale(state, num_qubits, gate, diagonal, parallel);
  apply_dense(state, num_qubits, gate, adjoint, parallel);
}

// Amplitudes taken kChunk at a time, so that the loops over one chunk vectorise
// whatever the gate: one register's worth of floats.
#if defined(__AVX512F__)
constexpr int kChunk = 16;
#elif defined(QML_AVX2_KERNELS)
constexpr int kChunk = 4;  // one register of (re, im) pairs (below)
#else
constexpr int kChunk = 8;
#endif

// One thread's overlap sums for a gate: float partial sums over chunks, kept across
// the gate's runs (many are a chunk or two long) and added to the double totals every
// kFloatSumSteps chunks.
template <int D>
struct alignas(64) OverlapSums {
  // Entry (i, j): 8 floats. The AVX2 build holds (real, imaginary) pairs (see
  // unapply_chunks); the others 4 real parts, then 4 imaginary parts, kChunk lanes
  // folded onto them.
  alignas(32) float partial[D][D][8] = {};
  double totals[D][D][2] = {};
  index_t chunks = 0;

  void flush() {
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) {
        for (int w = 0; w < 8; ++w) {
#ifdef QML_AVX2_KERNELS
          totals[i][j][w & 1] += partial[i][j][w];
#else
          totals[i][j][w >> 2] += partial[i][j][w];
#endif
        }
        std::fill(partial[i][j], partial[i][j] + 8, 0.f);
      }
    chunks = 0;
  }
};

#ifdef QML_AVX2_KERNELS
// unapply_run for a whole number of chunks, on amplitudes as they lie in memory: a
// register holds four (re, im) pairs. A complex product m v is the even-odd add-sub of
// Re(m) v and Im(m) swap(v), so no lane is ever moved between pairs (splitting real
// and imaginary parts costs AVX2 more shuffles than arithmetic). An overlap term
// conj(a) b is the pair sum of a * b (real) and the pair difference of a * swap(b)
// (imaginary).
template <int D, bool WithOverlap>
inline void unapply_chunks(float* __restrict psi, float* __restrict lambda, index_t base,
                           index_t begin, index_t end, const Matrix<D>& m,
                           OverlapSums<D>* sums) {
  constexpr int kSwap = 0xB1;  // (re, im) -> (im, re) in every pair
  float* p[D];
  float* l[D];
  for (int j = 0; j < D; ++j) {
    p[j] = psi + 2 * (base + m.offsets[j]);
    l[j] = lambda + 2 * (base + m.offsets[j]);
  }
  constexpr int S = WithOverlap ? D : 1;
  __m256 sum[S][S];
  const __m256 odd_sign = _mm256_setr_ps(0.f, -0.f, 0.f, -0.f, 0.f, -0.f, 0.f, -0.f);
  if constexpr (WithOverlap)
    for (int k = 0; k < D; ++k)
      for (int i = 0; i < D; ++i) sum[k][i] = _mm256_load_ps(sums->partial[k][i]);
  for (index_t lo = begin; lo < end; lo += kChunk) {
    __m256 pv[D], ps[D], lv[D], ls[D];
    for (int j = 0; j < D; ++j) {
      pv[j] = _mm256_loadu_ps(p[j] + 2 * lo);
      lv[j] = _mm256_loadu_ps(l[j] + 2 * lo);
      ps[j] = _mm256_permute_ps(pv[j], kSwap);
      ls[j] = _mm256_permute_ps(lv[j], kSwap);
    }
    for (int i = 0; i < D; ++i) {
      // by_re: sum of Re(m) v; by_im: sum of Im(m) swap(v).
      __m256 q_by_re = _mm256_setzero_ps(), q_by_im = q_by_re, u_by_re = q_by_re,
             u_by_im = q_by_re;
      for (int j = 0; j < D; ++j) {
        const __m256 a = _mm256_set1_ps(m.re[i][j]), b = _mm256_set1_ps(m.im[i][j]);
        q_by_re = _mm256_fmadd_ps(a, pv[j], q_by_re);
        q_by_im = _mm256_fmadd_ps(b, ps[j], q_by_im);
        u_by_re = _mm256_fmadd_ps(a, lv[j], u_by_re);
        u_by_im = _mm256_fmadd_ps(b, ls[j], u_by_im);
      }
      const __m256 q = _mm256_addsub_ps(q_by_re, q_by_im);
      const __m256 u = _mm256_addsub_ps(u_by_re, u_by_im);
      _mm256_storeu_ps(p[i] + 2 * lo, q);
      _mm256_storeu_ps(l[i] + 2 * lo, u);
      if constexpr (WithOverlap) {  // lambda before the un-apply, psi after it
        const __m256 qs = _mm256_permute_ps(q, kSwap);
        for (int k = 0; k < D; ++k) {
          sum[k][i] = _mm256_fmadd_ps(_mm256_moveldup_ps(lv[k]), q, sum[k][i]);
          sum[k][i] = _mm256_fmadd_ps(_mm256_xor_ps(_mm256_movehdup_ps(lv[k]), odd_sign), qs,
                                      sum[k][i]);
        }
      }
    }
  }
  if constexpr (WithOverlap)
    for (int k = 0; k < D; ++k)
      for (int i = 0; i < D; ++i) _mm256_store_ps(sums->partial[k][i], sum[k][i]);
}
#else
// unapply_run for a whole number of chunks: the same sums, each over kChunk lanes.
template <int D, bool WithOverlap>
inline void unapply_chunks(float* __restrict psi, float* __restrict lambda, index_t base,
                           index_t begin, index_t end, const Matrix<D>& m,
                           OverlapSums<D>* sums_out) {
  float* p[D];
  float* l[D];
  for (int j = 0; j < D; ++j) {
    p[j] = psi + 2 * (base + m.offsets[j]);
    l[j] = lambda + 2 * (base + m.offsets[j]);
  }
  alignas(64) float sums[WithOverlap ? D : 1][WithOverlap ? D : 1][2][kChunk] = {};
  for (index_t lo = begin; lo < end; lo += kChunk) {
    alignas(64) float pr[D][kChunk], pi[D][kChunk], lr[D][kChunk], li[D][kChunk];
    for (int j = 0; j < D; ++j)
      for (int w = 0; w < kChunk; ++w) {
        pr[j][w] = p[j][2 * (lo + w)];
        pi[j][w] = p[j][2 * (lo + w) + 1];
        lr[j][w] = l[j][2 * (lo + w)];
        li[j][w] = l[j][2 * (lo + w) + 1];
      }
    // One output amplitude at a time: its accumulators and the inputs stay in
    // registers, where all D outputs at once would spill them.
    for (int i = 0; i < D; ++i) {
      alignas(64) float qr[kChunk] = {}, qi[kChunk] = {}, ur[kChunk] = {}, ui[kChunk] = {};
      for (int j = 0; j < D; ++j) {
        const float a = m.re[i][j], b = m.im[i][j];
        for (int w = 0; w < kChunk; ++w) {
          qr[w] += a * pr[j][w] - b * pi[j][w];
          qi[w] += a * pi[j][w] + b * pr[j][w];
          ur[w] += a * lr[j][w] - b * li[j][w];
          ui[w] += a * li[j][w] + b * lr[j][w];
        }
      }
      for (int w = 0; w < kChunk; ++w) {
        p[i][2 * (lo + w)] = qr[w];
        p[i][2 * (lo + w) + 1] = qi[w];
        l[i][2 * (lo + w)] = ur[w];
        l[i][2 * (lo + w) + 1] = ui[w];
      }
      if constexpr (WithOverlap)  // lambda before the un-apply, psi after it
        for (int k = 0; k < D; ++k)
          for (int w = 0; w < kChunk; ++w) {
            sums[k][i][0][w] += lr[k][w] * qr[w] + li[k][w] * qi[w];
            sums[k][i][1][w] += lr[k][w] * qi[w] - li[k][w] * qr[w];
          }
    }
  }
  if constexpr (WithOverlap)
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j)
        for (int part = 0; part < 2; ++part)
          for (int w = 0; w < kChunk; ++w) sums_out->partial[i][j][part * 4 + w % 4] += sums[i][j][part][w];
}

#endif

// Un-applies M to psi and lambda for indices base + [begin, end); with WithOverlap,
// also sums conj(lambda before) psi after into `sums`.
template <int D, bool WithOverlap>
inline void unapply_run(float* __restrict psi, float* __restrict lambda, index_t base,
                        index_t begin, index_t end, const Matrix<D>& m,
                        OverlapSums<D>* sums_out) {
  const index_t whole = begin + (end - begin) / kChunk * kChunk;
  if (whole > begin) {
    unapply_chunks<D, WithOverlap>(psi, lambda, base, begin, whole, m, sums_out);
    if constexpr (WithOverlap) {
      sums_out->chunks += (whole - begin) / kChunk;
      if (sums_out->chunks >= kFloatSumSteps) sums_out->flush();
    }
    if (whole == end) return;
    begin = whole;
  }
  float* p[D];
  float* l[D];
  for (int j = 0; j < D; ++j) {
    p[j] = psi + 2 * (base + m.offsets[j]);
    l[j] = lambda + 2 * (base + m.offsets[j]);
  }
  float sums[D][D][2] = {};
QML_IVDEP
  for (index_t lo = begin; lo < end; ++lo) {
    float pr[D], pi[D], lr[D], li[D];
    for (int j = 0; j < D; ++j) {
      pr[j] = p[j][2 * lo];
      pi[j] = p[j][2 * lo + 1];
      lr[j] = l[j][2 * lo];
      li[j] = l[j][2 * lo + 1];
    }
    float qr[D], qi[D];
    for (int i = 0; i < D; ++i) {
      float r = 0.f, s = 0.f, u = 0.f, v = 0.f;
      for (int j = 0; j < D; ++j) {
        r += m.re[i][j] * pr[j] - m.im[i][j] * pi[j];
        s += m.re[i][j] * pi[j] + m.im[i][j] * pr[j];
        u += m.re[i][j] * lr[j] - m.im[i][j] * li[j];
        v += m.re[i][j] * li[j] + m.im[i][j] * lr[j];
      }
      qr[i] = r;
      qi[i] = s;
      p[i][2 * lo] = r;
      p[i][2 * lo + 1] = s;
      l[i][2 * lo] = u;
      l[i][2 * lo + 1] = v;
    }
    if (WithOverlap) {
      for (int i = 0; i < D; ++i)
        for (int j = 0; j < D; ++j) {
          sums[i][j][0] += lr[i] * qr[j] + li[i] * qi[j];
          sums[i][j][1] += lr[i] * qi[j] - li[i] * qr[j];
        }
    }
  }
  if constexpr (WithOverlap)  // fewer than kChunk amplitudes: straight to the totals
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) {
        sums_out->totals[i][j][0] += sums[i][j][0];
        sums_out->totals[i][j][1] += sums[i][j][1];
      }
}

template <int D>
void unapply_pair_d(cfloat* psi, cfloat* lambda, int num_qubits, const Gate& gate,
                    cdouble* overlap, bool parallel) {
  const Matrix<D> m(gate, true);
  const Layout layout(num_qubits, gate);
  float* p = reinterpret_cast<float*>(psi);
  float* l = reinterpret_cast<float*>(lambda);
  if (!overlap) {
    split_layout(parallel, layout, [&](index_t base, index_t begin, index_t end, int) {
      unapply_run<D, false>(p, l, base, begin, end, m, nullptr);
    });
    return;
  }
  auto add = [&](OverlapSums<D>& s) {
    s.flush();
    for (int i = 0; i < D; ++i)
      for (int j = 0; j < D; ++j) overlap[i * D + j] += cdouble(s.totals[i][j][0], s.totals[i][j][1]);
  };
  if (!parallel) {  // a narrow row: no allocation per op
    OverlapSums<D> s;
    split_layout(false, layout, [&](index_t base, index_t begin, index_t end, int) {
      unapply_run<D, true>(p, l, base, begin, end, m, &s);
    });
    return add(s);
  }
  std::vector<OverlapSums<D>> sums(thread_count());
  split_layout(parallel, layout, [&](index_t base, index_t begin, index_t end, int t) {
    unapply_run<D, true>(p, l, base, begin, end, m, &sums[t]);
  });
  for (OverlapSums<D>& s : sums) add(s);
}

void unapply_pair(cfloat* psi, cfloat* lambda, int num_qubits, const Gate& gate,
                  cdouble* overlap, bool parallel) {
  cfloat diagonal[kMaxDim];
  if (!overlap && diagonal_of(gate, true, diagonal)) {
    scale(psi, num_qubits, gate, diagonal, parallel);
    return scale(lambda, num_qubits, gate, diagonal, parallel);
  }
#ifdef QML_AVX2_KERNELS
  if (RegisterGate::wanted(num_qubits, gate))
    return unapply_pair_register(reinterpret_cast<float*>(psi), reinterpret_cast<float*>(lambda),
                                 num_qubits, gate, overlap, parallel);
#endif
  if (LowPlan::wanted(num_qubits, gate))
    return unapply_pair_low(reinterpret_cast<float*>(psi), reinterpret_cast<float*>(lambda),
                            num_qubits, gate, overlap, parallel);
  switch (gate.num_targets) {
    case 1: return unapply_pair_d<2>(psi, lambda, num_qubits, gate, overlap, parallel);
    case 2: return unapply_pair_d<4>(psi, lambda, num_qubits, gate, overlap, parallel);
    case 3: return unapply_pair_d<8>(psi, lambda, num_qubits, gate, overlap, parallel);
    default: return unapply_pair_d<16>(psi, lambda, num_qubits, gate, overlap, parallel);
  }
}

double pauli_expectation(const cfloat* psi, int num_qubits, index_t x_mask, index_t z_mask,
                         cdouble coef, bool parallel) {
  const float* p = reinterpret_cast<const float*>(psi);
  std::vector<cdouble> sums(parallel ? thread_count() : 1);
  split_range(parallel, index_t(1) << num_qubits, [&](index_t begin, index_t end, int t) {
    double re = 0.0, im = 0.0;
    if (x_mask == 0) {
      for (index_t j = begin; j < end; ++j) {
        const float prob = p[2 * j] * p[2 * j] + p[2 * j + 1] * p[2 * j + 1];
        re += __builtin_parityll(j & z_mask) ? -prob : prob;
      }
    } else {
      for (index_t j = begin; j < end; ++j) {
        const index_t partner = j ^ x_mask;
        const float a = p[2 * partner], b = -p[2 * partner + 1];  // conj(psi[j ^ x])
        const float c = p[2 * j], d = p[2 * j + 1];
        const float sign = __builtin_parityll(j & z_mask) ? -1.f : 1.f;
        re += sign * (a * c - b * d);
        im += sign * (a * d + b * c);
      }
    }
    sums[t] = cdouble(re, im);
  });
  cdouble total = 0.0;
  for (const cdouble& s : sums) total += s;
  return (coef * total).real();
}

void add_pauli(const cfloat* psi, int num_qubits, index_t x_mask, index_t z_mask,
               cdouble weight, cfloat* out, bool parallel) {
  const float wr = float(weight.real()), wi = float(weight.imag());
  const float* p = reinterpret_cast<const float*>(psi);
  float* o = reinterpret_cast<float*>(out);
  split_range(parallel, index_t(1) << num_qubits, [&](index_t begin, index_t end, int) {
    for (index_t j = begin; j < end; ++j) {
      const float sign = __builtin_parityll(j & z_mask) ? -1.f : 1.f;
      const float c = sign * p[2 * j], d = sign * p[2 * j + 1];
      const index_t target = j ^ x_mask;
      o[2 * target] += wr * c - wi * d;
      o[2 * target + 1] += wr * d + wi * c;
    }
  });
}

void add_diagonal(const cfloat* psi, int num_qubits, int low_bits, const cfloat* low,
                  const cfloat* high, cfloat* out, bool parallel) {
  const index_t low_size = index_t(1) << low_bits;
  split_range(parallel, index_t(1) << (num_qubits - low_bits), [&](index_t begin, index_t end, int) {
    for (index_t h = begin; h < end; ++h) {
      const cfloat shift = high[h];
      const cfloat* p = psi + h * low_size;
      cfloat* o = out + h * low_size;
      for (index_t l = 0; l < low_size; ++l) o[l] += (low[l] + shift) * p[l];
    }
  }, std::max<index_t>(1, 2048 / low_size));
}

void probability_marginals(const cfloat* psi, int num_qubits, int low_bits, double* low,
                           double* high, bool parallel) {
  const index_t low_size = index_t(1) << low_bits;
  std::vector<std::vector<double>> partial(parallel ? thread_count() : 1);
  split_range(parallel, index_t(1) << (num_qubits - low_bits), [&](index_t begin, index_t end, int t) {
    std::vector<double>& sums = partial[t];
    sums.assign(low_size, 0.0);
    for (index_t h = begin; h < end; ++h) {
      const float* p = reinterpret_cast<const float*>(psi + h * low_size);
      double row = 0.0;
      for (index_t l = 0; l < low_size; ++l) {
        const double prob = double(p[2 * l]) * p[2 * l] + double(p[2 * l + 1]) * p[2 * l + 1];
        sums[l] += prob;
        row += prob;
      }
      high[h] = row;
    }
  }, std::max<index_t>(1, 2048 / low_size));
  std::fill(low, low + low_size, 0.0);
  for (const std::vector<double>& sums : partial)
    for (std::size_t l = 0; l < sums.size(); ++l) low[l] += sums[l];
}

// ---- lane kernels: kLanes rows of one program at once, see kernels.hpp

// lane state of amplitude `a`: kLanes real parts, then kLanes imaginary parts
inline float* lane_amplitude(float* state, index_t a) { return state + 2 * a * kLanes; }

template <int D>
void apply_lanes_d(float* state, int num_qubits, const Gate& gate, const LaneMatrix& m) {
  const Layout layout(num_qubits, gate);
  index_t offsets[D];
  for (int a = 0; a < D; ++a) offsets[a] = target_offset(gate, a, kTargetsOf<D>);
  for (index_t r = 0; r < layout.outer; ++r) {
    const index_t base = layout.base(r);
    for (index_t lo = 0; lo < layout.inner; ++lo) {
      float* v[D];
      alignas(64) float vr[D][kLanes], vi[D][kLanes];
      for (int j = 0; j < D; ++j) {
        v[j] = lane_amplitude(state, base + lo + offsets[j]);
        for (int w = 0; w < kLanes; ++w) {
          vr[j][w] = v[j][w];
          vi[j][w] = v[j][kLanes + w];
        }
      }
      for (int i = 0; i < D; ++i) {
        alignas(64) float out_re[kLanes] = {}, out_im[kLanes] = {};
        for (int j = 0; j < D; ++j) {
          const float* __restrict a = m.re[i * D + j];
          const float* __restrict b = m.im[i * D + j];
#pragma omp simd
          for (int w = 0; w < kLanes; ++w) {
            out_re[w] += a[w] * vr[j][w] - b[w] * vi[j][w];
            out_im[w] += a[w] * vi[j][w] + b[w] * vr[j][w];
          }
        }
        for (int w = 0; w < kLanes; ++w) {
          v[i][w] = out_re[w];
          v[i][kLanes + w] = out_im[w];
        }
      }
    }
  }
}

// scale on lane states, with one diagonal for every lane.
void scale_lanes(float* state, int num_qubits, const Gate& gate, const cfloat* diagonal) {
  index_t offsets[kMaxDim];
  cfloat entries[kMaxDim];
  const int count = scaled_entries(gate, diagonal, offsets, entries);
  if (count == 0) return;
  const Layout layout(num_qubits, gate);
  for (index_t r = 0; r < layout.outer; ++r) {
    const index_t base = layout.base(r);
    for (index_t lo = 0; lo < layout.inner; ++lo) {
      for (int c = 0; c < count; ++c) {
        float* __restrict re = lane_amplitude(state, base + lo + offsets[c]);
        float* __restrict im = re + kLanes;
        const float dr = entries[c].real(), di = entries[c].imag();
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {
          const float x = re[w], y = im[w];
          re[w] = dr * x - di * y;
          im[w] = dr * y + di * x;
        }
      }
    }
  }
}

void apply_lanes(float* state, int num_qubits, const Gate& gate, const LaneMatrix& m) {
  switch (gate.num_targets) {
    case 1: return apply_lanes_d<2>(state, num_qubits, gate, m);
    case 2: return apply_lanes_d<4>(state, num_qubits, gate, m);
    case 3: return apply_lanes_d<8>(state, num_qubits, gate, m);
    default: return apply_lanes_d<16>(state, num_qubits, gate, m);
  }
}

template <int D, bool WithOverlap>
void unapply_pair_lanes_d(float* psi, float* lambda, int num_qubits, const Gate& gate,
                          const LaneMatrix& m, double* overlap) {
  const Layout layout(num_qubits, gate);
  index_t offsets[D];
  for (int a = 0; a < D; ++a) offsets[a] = target_offset(gate, a, kTargetsOf<D>);
  constexpr int S = WithOverlap ? D : 1;
  alignas(64) float sums[S][S][2][kLanes] = {};
  index_t pending = 0;
  auto flush = [&]() {
    for (int i = 0; i < S; ++i)
      for (int j = 0; j < S; ++j)
        for (int part = 0; part < 2; ++part)
          for (int w = 0; w < kLanes; ++w) {
            overlap[((i * D + j) * 2 + part) * kLanes + w] += sums[i][j][part][w];
            sums[i][j][part][w] = 0.f;
          }
    pending = 0;
  };
  for (index_t r = 0; r < layout.outer; ++r) {
    const index_t base = layout.base(r);
    for (index_t lo = 0; lo < layout.inner; ++lo) {
      float* p[D];
      float* l[D];
      alignas(64) float pr[D][kLanes], pi[D][kLanes], lr[D][kLanes], li[D][kLanes];
      for (int j = 0; j < D; ++j) {
        p[j] = lane_amplitude(psi, base + lo + offsets[j]);
        l[j] = lane_amplitude(lambda, base + lo + offsets[j]);
        for (int w = 0; w < kLanes; ++w) {
          pr[j][w] = p[j][w];
          pi[j][w] = p[j][kLanes + w];
          lr[j][w] = l[j][w];
          li[j][w] = l[j][kLanes + w];
        }
      }
      // One output amplitude at a time, as in apply_lanes_d: its four accumulators and
      // the inputs stay in registers (all D outputs at once spill them at D = 4).
      for (int i = 0; i < D; ++i) {
        alignas(64) float qr[kLanes] = {}, qi[kLanes] = {}, ur[kLanes] = {}, ui[kLanes] = {};
        for (int j = 0; j < D; ++j) {
          const float* __restrict a = m.re[i * D + j];
          const float* __restrict b = m.im[i * D + j];
#pragma omp simd
          for (int w = 0; w < kLanes; ++w) {
            qr[w] += a[w] * pr[j][w] - b[w] * pi[j][w];
            qi[w] += a[w] * pi[j][w] + b[w] * pr[j][w];
            ur[w] += a[w] * lr[j][w] - b[w] * li[j][w];
            ui[w] += a[w] * li[j][w] + b[w] * lr[j][w];
          }
        }
        if constexpr (WithOverlap)  // lambda before the un-apply, psi after it
          for (int k = 0; k < D; ++k)
#pragma omp simd
            for (int w = 0; w < kLanes; ++w) {
              sums[k][i][0][w] += lr[k][w] * qr[w] + li[k][w] * qi[w];
              sums[k][i][1][w] += lr[k][w] * qi[w] - li[k][w] * qr[w];
            }
        for (int w = 0; w < kLanes; ++w) {
          p[i][w] = qr[w];
          p[i][kLanes + w] = qi[w];
          l[i][w] = ur[w];
          l[i][kLanes + w] = ui[w];
        }
      }
      if (WithOverlap && ++pending == kFloatSumSteps) flush();
    }
  }
  if (WithOverlap) flush();
}

// unapply_pair on lane states, with m already adjoint (M^dagger) in every lane; lane w's
// overlap entry (i, j) goes to overlap[((i * 2^k + j) * 2 + part) * kLanes + w], part 0
// real and 1 imaginary.
void unapply_pair_lanes(float* psi, float* lambda, int num_qubits, const Gate& gate,
                        const LaneMatrix& m, double* overlap) {
  const bool with = overlap != nullptr;
  switch (gate.num_targets) {
    case 1: return with ? unapply_pair_lanes_d<2, true>(psi, lambda, num_qubits, gate, m, overlap)
                        : unapply_pair_lanes_d<2, false>(psi, lambda, num_qubits, gate, m, overlap);
    case 2: return with ? unapply_pair_lanes_d<4, true>(psi, lambda, num_qubits, gate, m, overlap)
                        : unapply_pair_lanes_d<4, false>(psi, lambda, num_qubits, gate, m, overlap);
    case 3: return with ? unapply_pair_lanes_d<8, true>(psi, lambda, num_qubits, gate, m, overlap)
                        : unapply_pair_lanes_d<8, false>(psi, lambda, num_qubits, gate, m, overlap);
    default: return with ? unapply_pair_lanes_d<16, true>(psi, lambda, num_qubits, gate, m, overlap)
                         : unapply_pair_lanes_d<16, false>(psi, lambda, num_qubits, gate, m, overlap);
  }
}

// The matrix of a constant gate (its adjoint with `adjoint`) in every lane of `m`.
const LaneMatrix& constant_lanes(const Gate& gate, bool adjoint, LaneMatrix& m) {
  const int dim = 1 << gate.num_targets;
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j) {
      const cfloat e = adjoint ? std::conj(gate.matrix[j * dim + i]) : gate.matrix[i * dim + j];
      std::fill(m.re[i * dim + j], m.re[i * dim + j] + kLanes, e.real());
      std::fill(m.im[i * dim + j], m.im[i * dim + j] + kLanes, e.imag());
    }
  return m;
}

void apply_constant_lanes(float* state, int num_qubits, const Gate& gate, LaneMatrix& scratch) {
  cfloat diagonal[kMaxDim];
  if (diagonal_of(gate, false, diagonal)) return scale_lanes(state, num_qubits, gate, diagonal);
  apply_lanes(state, num_qubits, gate, constant_lanes(gate, false, scratch));
}

void unapply_constant_pair_lanes(float* psi, float* lambda, int num_qubits, const Gate& gate,
                                 LaneMatrix& scratch) {
  cfloat diagonal[kMaxDim];
  if (diagonal_of(gate, true, diagonal)) {
    scale_lanes(psi, num_qubits, gate, diagonal);
    return scale_lanes(lambda, num_qubits, gate, diagonal);
  }
  unapply_pair_lanes(psi, lambda, num_qubits, gate, constant_lanes(gate, true, scratch), nullptr);
}

void pauli_sums_lanes(const float* psi, int num_qubits, index_t x_mask, index_t z_mask,
                      double* sums) {
  alignas(64) double re[kLanes] = {}, im[kLanes] = {};
  const index_t size = index_t(1) << num_qubits;
  for (index_t j = 0; j < size; ++j) {
    const float* a = psi + 2 * (j ^ x_mask) * kLanes;
    const float* c = psi + 2 * j * kLanes;
    const float sign = __builtin_parityll(j & z_mask) ? -1.f : 1.f;
    for (int w = 0; w < kLanes; ++w) {  // conj(a) c
      re[w] += sign * (a[w] * c[w] + a[kLanes + w] * c[kLanes + w]);
      im[w] += sign * (a[w] * c[kLanes + w] - a[kLanes + w] * c[w]);
    }
  }
  for (int w = 0; w < kLanes; ++w) {
    sums[w] = re[w];
    sums[kLanes + w] = im[w];
  }
}

void probability_marginals_lanes(const float* psi, int num_qubits, int low_bits, double* low,
                                 double* high) {
  const index_t low_size = index_t(1) << low_bits;
  std::fill(low, low + low_size * kLanes, 0.0);
  for (index_t h = 0; h < index_t(1) << (num_qubits - low_bits); ++h) {
    alignas(64) double row[kLanes] = {};
    for (index_t l = 0; l < low_size; ++l) {
      const float* a = psi + 2 * (h * low_size + l) * kLanes;
      double* sums = low + l * kLanes;
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) {
        const double prob = double(a[w]) * a[w] + double(a[kLanes + w]) * a[kLanes + w];
        sums[w] += prob;
        row[w] += prob;
      }
    }
    for (int w = 0; w < kLanes; ++w) high[h * kLanes + w] = row[w];
  }
}

void add_pauli_lanes(const float* psi, int num_qubits, index_t x_mask, index_t z_mask,
                     const float* weight, float* out) {
  const index_t size = index_t(1) << num_qubits;
  for (index_t j = 0; j < size; ++j) {
    const float* c = psi + 2 * j * kLanes;
    float* o = out + 2 * (j ^ x_mask) * kLanes;
    const float sign = __builtin_parityll(j & z_mask) ? -1.f : 1.f;
    for (int w = 0; w < kLanes; ++w) {
      const float wr = sign * weight[w], wi = sign * weight[kLanes + w];
      o[w] += wr * c[w] - wi * c[kLanes + w];
      o[kLanes + w] += wr * c[kLanes + w] + wi * c[w];
    }
  }
}

// The entries of a square lane matrix: entry e's kLanes real parts at re + e * kLanes,
// its imaginary parts at im + e * kLanes.
struct LaneEntries {
  const float* re;
  const float* im;
  const float* r(int e) const { return re + std::size_t(e) * kLanes; }
  const float* i(int e) const { return im + std::size_t(e) * kLanes; }
};

// out = A B for every lane, dim x dim, where a(i, k) and b(k, j) are entry indices into
// `left` and `right` (so a transpose is a(i, k) = k * dim + i), and B is conjugated
// with `conjugate_right`. The output (out_re, out_im, laid out as LaneEntries) must not
// share memory with either factor.
template <class LeftIndex, class RightIndex>
void multiply_lane_matrices(int dim, const LaneEntries& left, LeftIndex a,
                            const LaneEntries& right, RightIndex b, bool conjugate_right,
                            float* out_re, float* out_im) {
  const float sign = conjugate_right ? -1.f : 1.f;
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j) {
      float* __restrict re = out_re + std::size_t(i * dim + j) * kLanes;
      float* __restrict im = out_im + std::size_t(i * dim + j) * kLanes;
      for (int w = 0; w < kLanes; ++w) re[w] = im[w] = 0.f;
      for (int k = 0; k < dim; ++k) {
        const float* ar = left.r(a(i, k));
        const float* ai = left.i(a(i, k));
        const float* br = right.r(b(k, j));
        const float* bi = right.i(b(k, j));
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {
          re[w] += ar[w] * br[w] - ai[w] * sign * bi[w];
          im[w] += ar[w] * sign * bi[w] + ai[w] * br[w];
        }
      }
    }
}

// A lane matrix of size dim x dim as one buffer: entry e of lane w at re[e * kLanes + w].
struct LaneBuffer {
  std::vector<float> re, im;
  void resize(int size) {
    re.resize(std::size_t(size) * kLanes);
    im.resize(std::size_t(size) * kLanes);
  }
  float* r(int e) { return re.data() + std::size_t(e) * kLanes; }
  float* i(int e) { return im.data() + std::size_t(e) * kLanes; }
};

// An op's steps, each the sum of its terms, as lane matrices (2 x 2 on one target for
// place >= 0, else dim x dim).
struct LaneSteps {
  std::vector<float> re, im;
  std::vector<int> start, place, first_term;  // per step; first_term ends with num_terms
  int count() const { return int(place.size()); }
  const float* r(int k) const { return re.data() + std::size_t(start[k]) * kLanes; }
  const float* i(int k) const { return im.data() + std::size_t(start[k]) * kLanes; }
};

const LaneSteps& lane_steps(const LaneTerm* terms, int num_terms, int size) {
  static thread_local LaneSteps steps;
  steps.start.clear();
  steps.place.clear();
  steps.first_term.clear();
  int stored = 0;
  for (int t = 0; t < num_terms; ++t)
    if (t == 0 || terms[t].step != terms[t - 1].step) {
      steps.start.push_back(stored);
      steps.place.push_back(terms[t].place);
      steps.first_term.push_back(t);
      stored += terms[t].place < 0 ? size : 4;
    }
  steps.first_term.push_back(num_terms);
  steps.re.assign(std::size_t(stored) * kLanes, 0.f);
  steps.im.assign(std::size_t(stored) * kLanes, 0.f);
  for (int k = 0; k < steps.count(); ++k) {
    const int entries = steps.place[k] < 0 ? size : 4;
    for (int t = steps.first_term[k]; t < steps.first_term[k + 1]; ++t)
      for (int e = 0; e < entries; ++e) {
        float* __restrict re = steps.re.data() + std::size_t(steps.start[k] + e) * kLanes;
        float* __restrict im = steps.im.data() + std::size_t(steps.start[k] + e) * kLanes;
        const float er = terms[t].matrix[e].real(), ei = terms[t].matrix[e].imag();
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {
          re[w] += terms[t].factor_re[w] * er - terms[t].factor_im[w] * ei;
          im[w] += terms[t].factor_re[w] * ei + terms[t].factor_im[w] * er;
        }
      }
  }
  return steps;
}

// m <- m conj(s) for every lane; s on all targets (place -1) or 2 x 2 on one.
void right_conjugate_lanes(LaneBuffer& m, const float* sr, const float* si, int place, int dim,
                           LaneBuffer& spare) {
  if (place < 0) {
    spare.resize(dim * dim);
    multiply_lane_matrices(
        dim, LaneEntries{m.re.data(), m.im.data()}, [dim](int i, int k) { return i * dim + k; },
        LaneEntries{sr, si},
        [dim](int k, int j) { return k * dim + j; }, true, spare.re.data(), spare.im.data());
    std::swap(m.re, spare.re);
    std::swap(m.im, spare.im);
    return;
  }
  const int bit = dim / 2 >> place;
  for (int i = 0; i < dim; ++i)
    for (int k = 0; k < dim; ++k) {
      if (k & bit) continue;
      float* __restrict xr = m.r(i * dim + k);
      float* __restrict xi = m.i(i * dim + k);
      float* __restrict yr = m.r(i * dim + (k | bit));
      float* __restrict yi = m.i(i * dim + (k | bit));
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) {
        // conj(s) = (a b; c d): x' = x a + y c, y' = x b + y d.
        const float ar = sr[w], ai = -si[w], br = sr[kLanes + w], bi = -si[kLanes + w];
        const float cr = sr[2 * kLanes + w], ci = -si[2 * kLanes + w];
        const float dr = sr[3 * kLanes + w], di = -si[3 * kLanes + w];
        const float x_re = xr[w], x_im = xi[w], y_re = yr[w], y_im = yi[w];
        xr[w] = x_re * ar - x_im * ai + y_re * cr - y_im * ci;
        xi[w] = x_re * ai + x_im * ar + y_re * ci + y_im * cr;
        yr[w] = x_re * br - x_im * bi + y_re * dr - y_im * di;
        yi[w] = x_re * bi + x_im * br + y_re * di + y_im * dr;
      }
    }
}

// m <- s m, or s^T m with `transpose`, for every lane.
void left_multiply_lanes(LaneBuffer& m, const float* sr, const float* si, int place, int dim,
                         bool transpose, LaneBuffer& spare) {
  if (place < 0) {
    spare.resize(dim * dim);
    multiply_lane_matrices(
        dim, LaneEntries{sr, si},
        [dim, transpose](int i, int k) { return transpose ? k * dim + i : i * dim + k; },
        LaneEntries{m.re.data(), m.im.data()}, [dim](int k, int j) { return k * dim + j; },
        false, spare.re.data(), spare.im.data());
    std::swap(m.re, spare.re);
    std::swap(m.im, spare.im);
    return;
  }
  const int bit = dim / 2 >> place;
  for (int r = 0; r < dim; ++r) {
    if (r & bit) continue;
    for (int j = 0; j < dim; ++j) {
      float* __restrict xr = m.r(r * dim + j);
      float* __restrict xi = m.i(r * dim + j);
      float* __restrict yr = m.r((r | bit) * dim + j);
      float* __restrict yi = m.i((r | bit) * dim + j);
#pragma omp simd
      for (int w = 0; w < kLanes; ++w) {
        // s = (a c; b d), or s^T with c and b swapped: x' = a x + c y, y' = b x + d y.
        const float ar = sr[w], ai = si[w], dr = sr[3 * kLanes + w], di = si[3 * kLanes + w];
        const float br = sr[(transpose ? 1 : 2) * kLanes + w], bi = si[(transpose ? 1 : 2) * kLanes + w];
        const float cr = sr[(transpose ? 2 : 1) * kLanes + w], ci = si[(transpose ? 2 : 1) * kLanes + w];
        const float x_re = xr[w], x_im = xi[w], y_re = yr[w], y_im = yi[w];
        xr[w] = ar * x_re - ai * x_im + cr * y_re - ci * y_im;
        xi[w] = ar * x_im + ai * x_re + cr * y_im + ci * y_re;
        yr[w] = br * x_re - bi * x_im + dr * y_re - di * y_im;
        yi[w] = br * x_im + bi * x_re + dr * y_im + di * y_re;
      }
    }
  }
}

// The product of an op's steps for every lane (its adjoint with `adjoint`).
void bind_steps_lanes(const LaneSteps& steps, int dim, bool adjoint, LaneMatrix& out) {
  static thread_local LaneBuffer product, spare;
  product.resize(dim * dim);
  for (int e = 0; e < dim * dim; ++e)
    for (int w = 0; w < kLanes; ++w) {
      product.r(e)[w] = (e / dim == e % dim) ? 1.f : 0.f;
      product.i(e)[w] = 0.f;
    }
  for (int k = 0; k < steps.count(); ++k)
    left_multiply_lanes(product, steps.r(k), steps.i(k), steps.place[k], dim, false, spare);
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j) {
      const int from = adjoint ? j * dim + i : i * dim + j;
      const float sign = adjoint ? -1.f : 1.f;
      for (int w = 0; w < kLanes; ++w) {
        out.re[i * dim + j][w] = product.r(from)[w];
        out.im[i * dim + j][w] = sign * product.i(from)[w];
      }
    }
}

// Whether a parameterized op's steps go to the lane states one by one: on a register
// of at most 2 log2(dim) qubits, whose state is no larger than the op's matrix. A
// step then costs no more on the state than on the matrix, and binding the product
// and applying it are saved. On a wider register each step would be a pass of its own
// over the state.
bool steps_on_state(int num_qubits, int dim) {
  return (index_t(1) << num_qubits) <= index_t(dim) * dim;
}

// Step k of `steps` as a gate of its own (on the op's target `place`, or on all of
// them) under the op's controls, its matrix (or with `adjoint` its M^dagger) in m.
Gate step_gate(const LaneSteps& steps, int k, const Gate& op, bool adjoint, LaneMatrix& m) {
  Gate gate = op;
  if (steps.place[k] >= 0) {
    gate.num_targets = 1;
    gate.targets[0] = op.targets[steps.place[k]];
  }
  const int dim = 1 << gate.num_targets;
  const float sign = adjoint ? -1.f : 1.f;
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j) {
      const int from = adjoint ? j * dim + i : i * dim + j;
      for (int w = 0; w < kLanes; ++w) {
        m.re[i * dim + j][w] = steps.r(k)[from * kLanes + w];
        m.im[i * dim + j][w] = sign * steps.i(k)[from * kLanes + w];
      }
    }
  return gate;
}

void apply_terms_lanes(float* state, int num_qubits, const Gate& gate, const LaneTerm* terms,
                       int num_terms, LaneMatrix& m) {
  const int dim = 1 << gate.num_targets;
  const LaneSteps& steps = lane_steps(terms, num_terms, dim * dim);
  if (!steps_on_state(num_qubits, dim)) {
    bind_steps_lanes(steps, dim, false, m);
    apply_lanes(state, num_qubits, gate, m);
    return;
  }
  for (int k = 0; k < steps.count(); ++k)
    apply_lanes(state, num_qubits, step_gate(steps, k, gate, false, m), m);
}

// The chain rule through a bound op M, for every lane: with O the op's overlap
// (overlap[((i * dim + j) * 2 + part) * kLanes + w], as unapply_pair_lanes sums it)
// and `adjoint_matrix` its M^dagger, totals[(t * 2 + part) * kLanes + w] gets the
// contraction of term t's matrix with what its step sees of O.
void term_overlaps_lanes(int num_targets, const LaneTerm* terms, int num_terms,
                         const LaneMatrix& adjoint_matrix, const double* overlap,
                         float* totals) {
  const int dim = 1 << num_targets, size = dim * dim;
  static thread_local LaneBuffer m, spare;
  const LaneSteps& steps = lane_steps(terms, num_terms, size);
  const int num_steps = steps.count();
  // M = O U^T, where U^T[k][j] = U[j][k] = conj(adjoint[k][j]).
  m.resize(size);
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < dim; ++j) {
      float* __restrict outr = m.r(i * dim + j);
      float* __restrict outi = m.i(i * dim + j);
      for (int w = 0; w < kLanes; ++w) outr[w] = outi[w] = 0.f;
      for (int k = 0; k < dim; ++k) {
        const double* o = overlap + std::size_t((i * dim + k) * 2) * kLanes;
        const float* ur = adjoint_matrix.re[k * dim + j];
        const float* ui = adjoint_matrix.im[k * dim + j];
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {  // o conj(u)
          const float orr = float(o[w]), oi = float(o[kLanes + w]);
          outr[w] += orr * ur[w] + oi * ui[w];
          outi[w] += oi * ur[w] - orr * ui[w];
        }
      }
    }
  right_conjugate_lanes(m, steps.r(num_steps - 1), steps.i(num_steps - 1),
                        steps.place[num_steps - 1], dim, spare);
  for (int s = num_steps - 1; s >= 0; --s) {
    for (int t = steps.first_term[s]; t < steps.first_term[s + 1]; ++t) {
      float* __restrict tr = totals + std::size_t(t * 2) * kLanes;
      float* __restrict ti = tr + kLanes;
      for (int w = 0; w < kLanes; ++w) tr[w] = ti[w] = 0.f;
      const cfloat* e = terms[t].matrix;
      auto add = [&](cfloat entry, int at) {
        const float er = entry.real(), ei = entry.imag();
        const float* mr = m.r(at);
        const float* mi = m.i(at);
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {
          tr[w] += er * mr[w] - ei * mi[w];
          ti[w] += er * mi[w] + ei * mr[w];
        }
      };
      if (terms[t].place < 0) {
        for (int k = 0; k < size; ++k) add(e[k], k);
      } else {  // E on one target: contract with M traced over the other targets
        const int bit = dim / 2 >> terms[t].place;
        for (int r = 0; r < dim; ++r)
          for (int c = 0; c < dim; ++c)
            if ((r & ~bit) == (c & ~bit)) add(e[((r & bit) ? 2 : 0) + ((c & bit) ? 1 : 0)], r * dim + c);
      }
    }
    if (s > 0) {
      left_multiply_lanes(m, steps.r(s), steps.i(s), steps.place[s], dim, true, spare);
      right_conjugate_lanes(m, steps.r(s - 1), steps.i(s - 1), steps.place[s - 1], dim, spare);
    }
  }
}

void unapply_terms_lanes(float* psi, float* lambda, int num_qubits, const Gate& gate,
                         const LaneTerm* terms, int num_terms, LaneMatrix& m, double* overlap,
                         float* totals) {
  const int dim = 1 << gate.num_targets;
  const LaneSteps& steps = lane_steps(terms, num_terms, dim * dim);
  if (!steps_on_state(num_qubits, dim)) {
    bind_steps_lanes(steps, dim, true, m);
    std::fill(overlap, overlap + std::size_t(2 * kLanes) * dim * dim, 0.0);
    unapply_pair_lanes(psi, lambda, num_qubits, gate, m, overlap);
    term_overlaps_lanes(gate.num_targets, terms, num_terms, m, overlap, totals);
    return;
  }
  // Step by step, last first: un-applying step k leaves psi as it was before the step
  // and sums the overlap of lambda as it is after the step, which each term of the
  // step contracts with its matrix.
  for (int k = steps.count() - 1; k >= 0; --k) {
    const Gate step = step_gate(steps, k, gate, true, m);
    const int size = 1 << (2 * step.num_targets);
    const bool varies = std::any_of(terms + steps.first_term[k], terms + steps.first_term[k + 1],
                                    [](const LaneTerm& t) { return !t.constant; });
    std::fill(overlap, overlap + std::size_t(2 * kLanes) * size, 0.0);
    unapply_pair_lanes(psi, lambda, num_qubits, step, m, varies ? overlap : nullptr);
    for (int t = steps.first_term[k]; t < steps.first_term[k + 1]; ++t) {
      float* __restrict tr = totals + std::size_t(t * 2) * kLanes;
      float* __restrict ti = tr + kLanes;
      for (int w = 0; w < kLanes; ++w) tr[w] = ti[w] = 0.f;
      if (terms[t].constant) continue;
      for (int e = 0; e < size; ++e) {
        const float er = terms[t].matrix[e].real(), ei = terms[t].matrix[e].imag();
        const double* o = overlap + std::size_t(e * 2) * kLanes;
#pragma omp simd
        for (int w = 0; w < kLanes; ++w) {
          const float orr = float(o[w]), oi = float(o[kLanes + w]);
          tr[w] += er * orr - ei * oi;
          ti[w] += er * oi + ei * orr;
        }
      }
    }
  }
}

// exp(i x) for every x: a quadrant reduction by multiples of pi/2 (pi/2 in three parts,
// so the remainder keeps full precision for |x| up to kPhasorMaxExact), then Taylor
// series of sin and cos on [-pi/4, pi/4] to the degree where the next term is below
// 1e-18. The quadrant's swap and signs are bit operations, so the loop vectorises (a
// branch or std::floor in it stops gcc 12); the rare larger |x| take std::cos and
// std::sin afterwards.
constexpr double kPhasorMaxExact = 1 << 20;

constexpr double inverse_factorial(int n) { return n <= 1 ? 1.0 : inverse_factorial(n - 1) / n; }

inline std::uint64_t bits_of(double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

inline double double_of(std::uint64_t bits) {
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

void phasors(const double* __restrict phases, std::size_t count, cdouble* out) {
  constexpr double two_over_pi = 0.63661977236758134308;
  // pi/2 = kHalfPi1 + kHalfPi2 + kHalfPi3, the first two of 33 significant bits so that
  // k * kHalfPi1 and k * kHalfPi2 are exact for |k| < 2^20.
  constexpr double kHalfPi1 = 0x1.921fb544p+0;
  constexpr double kHalfPi2 = 0x1.0b4611a6p-34;
  constexpr double kHalfPi3 = 2.0222662487959506e-21;
  constexpr double kRound = 0x1.8p52;  // y + kRound holds round(y) in its low bits
  double* __restrict o = reinterpret_cast<double*>(out);
  for (std::size_t i = 0; i < count; ++i) {
    const double x = phases[i];
    const double shifted = x * two_over_pi + kRound;
    const double k = shifted - kRound;
    const std::uint64_t quadrant = bits_of(shifted);  // k mod 4 in its low two bits
    const double r = ((x - k * kHalfPi1) - k * kHalfPi2) - k * kHalfPi3;
    const double r2 = r * r;
    double s = inverse_factorial(17), c = inverse_factorial(18);
    s = -s * r2 + inverse_factorial(15); c = -c * r2 + inverse_factorial(16);
    s = -s * r2 + inverse_factorial(13); c = -c * r2 + inverse_factorial(14);
    s = -s * r2 + inverse_factorial(11); c = -c * r2 + inverse_factorial(12);
    s = -s * r2 + inverse_factorial(9);  c = -c * r2 + inverse_factorial(10);
    s = -s * r2 + inverse_factorial(7);  c = -c * r2 + inverse_factorial(8);
    s = -s * r2 + inverse_factorial(5);  c = -c * r2 + inverse_factorial(6);
    s = -s * r2 + inverse_factorial(3);  c = -c * r2 + inverse_factorial(4);
    s = (-s * r2 + 1.0) * r;             c = -c * r2 + inverse_factorial(2);
    c = -c * r2 + 1.0;
    // exp(i x) = i^k exp(i r): odd k swaps cos and sin; the signs follow k mod 4.
    const std::uint64_t odd = 0 - (quadrant & 1);
    const std::uint64_t sb = bits_of(s), cb = bits_of(c);
    o[2 * i] = double_of(((sb & odd) | (cb & ~odd)) ^ (((quadrant + 1) & 2) << 62));
    o[2 * i + 1] = double_of(((cb & odd) | (sb & ~odd)) ^ ((quadrant & 2) << 62));
  }
  for (std::size_t i = 0; i < count; ++i)
    if (!(std::abs(phases[i]) <= kPhasorMaxExact))
      out[i] = cdouble(std::cos(phases[i]), std::sin(phases[i]));
}

}  // namespace

extern const Kernels kernels = {QML_STR(QML_ARCH), apply, unapply_pair, pauli_expectation,
                                add_pauli, add_diagonal, probability_marginals, apply_lanes,
                                apply_constant_lanes, unapply_constant_pair_lanes, pauli_sums_lanes,
                                probability_marginals_lanes, add_pauli_lanes, apply_terms_lanes,
                                unapply_terms_lanes, phasors};

}  // namespace QML_ARCH
}  // namespace qml
