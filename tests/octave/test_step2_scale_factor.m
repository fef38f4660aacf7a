function test_step2_scale_factor()
%TEST_STEP2_SCALE_FACTOR Scaling factor with hand-computed powers (2 sensors, 3 regions).
% Signal T = 400; one spike at t = 200, so the power window is 101..300.
%   x1 = +1 on 101..300, -1 elsewhere (mean 0)
%   x2 = 2 s, x3 = s, with s = +1, -1, +1, ... (mean 0)
%   fwd = [1 1 1; 2 -1 1]
% Source 1: signal [1; 2] x1 -> power 1 + 4 = 5 per sample;
%   background [1; -1] 2s + [1; 1] s = [3s; -s] -> 9 + 1 = 10.
%   alpha(10 dB) = sqrt(10 * 10 / 5) = sqrt(20).
% Source 2: signal [1; -1] 2s -> 8; background [1; 2] x1 + [1; 1] s
%   = [1 + s; 2 + s] in the window -> 13 or 1, mean 7.
%   alpha(0 dB) = sqrt(7 / 8).
p = deepsif_params();
t = (1:400)';
x1 = -ones(400, 1);
x1(101:300) = 1;
s = 1 - 2 * mod(t + 1, 2);
nmm = [x1, 2 * s, s];
fwd = [1 1 1; 2 -1 1];
[alpha, ps, pn] = snr_scale_factor(nmm, fwd, 1, 200, 10, p);
assert(abs(ps - 5) < 1e-12 && abs(pn - 10) < 1e-12);
assert(abs(alpha - sqrt(20)) < 1e-12);
assert(abs(snr_scale_factor(nmm, fwd, 1, 200, 15, p) - sqrt(10^1.5 * 2)) < 1e-12);
[alpha, ps, pn] = snr_scale_factor(nmm, fwd, 2, 200, 0, p);
assert(abs(ps - 8) < 1e-12 && abs(pn - 7) < 1e-12);
assert(abs(alpha - sqrt(7 / 8)) < 1e-12);
% time means are removed: offsets change nothing
shifted = bsxfun(@plus, nmm, [5 -3 0.5]);
assert(abs(snr_scale_factor(shifted, fwd, 1, 200, 10, p) - sqrt(20)) < 1e-12);
% indices near the ends are clamped to 1..T, not an error; here every
% sample has the same powers, so alpha stays sqrt(20)
assert(abs(snr_scale_factor(nmm, fwd, 1, [20 390], 10, p) - sqrt(20)) < 1e-12);
% a source the sensors cannot see cannot be scaled
fwd0 = fwd;
fwd0(:, 1) = 0;
assert(step2_raises(@() snr_scale_factor(nmm, fwd0, 1, 200, 10, p), ...
                    'snr_scale_factor:zeroSignal'));
end

function ok = step2_raises(f, id)
% True when calling F raises an error with identifier ID.
ok = false;
try
    f();
catch err
    ok = strcmp(err.identifier, id);
end
end
