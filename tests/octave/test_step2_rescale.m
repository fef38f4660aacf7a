function test_step2_rescale()
%TEST_STEP2_RESCALE Rescaling one channel between a known onset and end.
% x = 0 except a bump 1 2 3 4 5 6 5 4 3 2 1 at 495..505 (peak 6 at 500).
% mean m = 36 / 1000 = 0.036; mean removed, the flat part is -0.036
% (quiet). Window 251..750; the bump sits at window positions 245..255.
% Onset = 244 (global 494). Trough: all of 301..400 equal -> first, 301;
% end = 302 (global 552). So samples 494..552 become (x - m) * alpha + m
% and every other sample keeps its exact value.
p = deepsif_params();
x = zeros(1000, 1);
x(495:505) = [1 2 3 4 5 6 5 4 3 2 1]';
m = 0.036;
alpha = 2;
y = rescale_spikes(x, 500, alpha, p);
assert(isequal(size(y), [1000 1]));
assert(isequal(y(1:493), x(1:493)) && isequal(y(553:end), x(553:end)));
expected = (x(494:552) - m) * alpha + m;
assert(max(abs(y(494:552) - expected)) < 1e-12);
assert(abs(y(500) - 11.964) < 1e-12);
% samples outside the scaled span keep their exact values, also those a
% mean round trip (x - m) + m would change in the last bits
x(1:100) = sin(1:100)' / 30;
x(901:1000) = cos(1:100)' / 30;
m = mean(x);
y = rescale_spikes(x, 500, alpha, p);
assert(isequal(y(1:493), x(1:493)) && isequal(y(553:end), x(553:end)));
assert(max(abs(y(494:552) - ((x(494:552) - m) * alpha + m))) < 1e-12);
% no spike: unchanged
assert(isequal(rescale_spikes(x, zeros(1, 0), alpha, p), x));
% a window outside the signal is an error
failed = false;
try
    rescale_spikes(x, 900, alpha, p);
catch err
    failed = strcmp(err.identifier, 'rescale_spikes:window');
end
assert(failed);
end
