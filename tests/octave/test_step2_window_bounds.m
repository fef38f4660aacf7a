function test_step2_window_bounds()
%TEST_STEP2_WINDOW_BOUNDS Onset, trough and end search, with the threshold-raising loop.
p = deepsif_params();
% Case A, threshold 0.1 suffices. Quiet (|x| < 0.1) positions: 40 and
% 460 (outside 50..450, ignored), 100, 200, 250 (not before 250), 351,
% 360. Trough: minimum -3 at 350 (the -10 at 410 is outside 301..400).
% Onset 200; end = first quiet after 350 = 351. (The published
% min_ind + 301 would put the trough at 351 and the end at 360.)
sig = 5 * ones(500, 1);
sig([40 200 250 360 460]) = 0;
sig([100 351]) = 0.05;
sig(350) = -3;
sig(410) = -10;
[onset, stop, trough, thr] = spike_window_bounds(sig, p);
assert(isequal([onset, trough, stop], [200 350 351]));
assert(abs(thr - 0.1) < 1e-12);

% Case B, raising for both. Onset: nothing below 0.1, 0.15, 0.2; at 0.25
% position 120 (0.22) -> onset 120. Trough at 320 (-4). End: at 0.25
% nothing after 320 (400 holds 0.28, 430 holds 0.32); at 0.30 -> 400.
sig = 5 * ones(500, 1);
sig(120) = 0.22;
sig(150) = 0.33;
sig(320) = -4;
sig(400) = 0.28;
sig(430) = 0.32;
[onset, stop, trough, thr] = spike_window_bounds(sig, p);
assert(isequal([onset, trough, stop], [120 320 400]));
assert(abs(thr - 0.3) < 1e-12);

% Case C, the end search starts at the threshold the onset search ended
% with (0.15, found 100 at 0.12): the end is 420 (0.12), not 440 (0.05,
% what a reset to 0.1 would find).
sig = 5 * ones(500, 1);
sig(100) = 0.12;
sig(305) = -2;
sig(420) = 0.12;
sig(440) = 0.05;
[onset, stop, trough, thr] = spike_window_bounds(sig, p);
assert(isequal([onset, trough, stop], [100 305 420]));
assert(abs(thr - 0.15) < 1e-12);

% Ties in the trough range: the first minimum
sig = 5 * ones(500, 1);
sig(200) = 0;
sig([330 380]) = -1;
sig(340) = 0;
sig(390) = 0;
[~, stop, trough] = spike_window_bounds(sig, p);
assert(trough == 330 && stop == 340);

% NaN in the searched range is an error, not an endless loop
sig(300) = NaN;
failed = false;
try
    spike_window_bounds(sig, p);
catch err
    failed = strcmp(err.identifier, 'spike_window_bounds:notFinite');
end
assert(failed);
end
