/* vmath.h — float exp and erfc written so that GCC vectorises loops that call them (libm's
 * expf/erff are scalar calls).  Accuracy: hz_vexpf within ~2 ulp for x in [-87, 88];
 * hz_verfc_pos within ~2e-7 relative for z >= 0 (z clamped at 9).  Callers keep libm in
 * the double build (HZ_DOUBLE), whose gradient checks need full precision. */
#ifndef HZ_VMATH_H
#define HZ_VMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) for x in [-87, 88]: x = n ln2 + r with |r| <= ln2/2 (two-part ln2), e^r by its
 * degree-6 Taylor polynomial (relative error < 2e-8 on that interval), 2^n put into the
 * exponent bits. */
static inline float hz_vexpf(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + shifter) - shifter;
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
    float p =
        1.0f +
        r * (1.0f +
             r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t e = (int32_t)n + 127;
    e = e < 1 ? 1 : e; /* far below any value that matters after the scaling below */
    float s;
    uint32_t bits = (uint32_t)e << 23;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* erfc(z) for z >= 0 as t exp(-z^2 + P(t)), t = 1 / (1 + z/2): P is our least-squares fit
 * (degree 9, Chebyshev points, z in [0, 9]) of log(erfc(z) / t) + z^2, relative error
 * < 5e-8 in exact arithmetic, ~2e-7 in float.  z is clamped at 9, where erfc underflows. */
static inline float hz_verfc_pos(float z)
{
    static const float c[10] = {-1.2654150741e+00f, 9.9797845324e-01f, 3.9215387680e-01f,
                                8.6911642165e-03f,  7.6336569993e-02f, -2.1974927663e-01f,
                                -5.2955995680e-01f, 1.0327698672e+00f, -6.2862951121e-01f,
                                1.3542392770e-01f};
    z = z < 9.0f ? z : 9.0f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p =
        c[0] +
        t * (c[1] +
             t * (c[2] +
                  t * (c[3] +
                       t * (c[4] + t * (c[5] + t * (c[6] + t * (c[7] + t * (c[8] + t * c[9]))))))));
    return t * hz_vexpf(-z * z + p);
}

/* exp(x) for x <= 88, 0 below -87 (where expf is within a few ulps of float's smallest
 * normal): masked scores of -inf give exactly 0. */
static inline float hz_vexpf_clamped(float x)
{
    float e = hz_vexpf(x > -87.0f ? x : -87.0f);
    return x > -87.0f ? e : 0.0f;
}

#endif
