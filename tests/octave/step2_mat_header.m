function head = step2_mat_header(path)
%STEP2_MAT_HEADER The first 19 characters of a file ('MATLAB 5.0 MAT-file' for MAT v5/v7).
fid = fopen(path, 'r');
if fid < 0
    error('step2_mat_header:open', 'cannot open %s', path);
end
head = char(fread(fid, 19, 'uint8=>char')');
fclose(fid);
end
