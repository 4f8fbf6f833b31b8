import { useEffect, useState, type ImgHTMLAttributes } from "react";

/** An image that, when it fails to load, shows a placeholder saying why (never a broken icon). */
export function SafeImage({ src, alt, className, ...rest }: ImgHTMLAttributes<HTMLImageElement> & { src: string }) {
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => setFailure(null), [src]);
  if (failure) {
    return (
      <div
        role="img"
        aria-label={`${alt ?? "image"}: ${failure}`}
        className={"flex items-center justify-center bg-neutral-900 p-2 text-center text-xs text-neutral-500 " + (className ?? "")}
      >
        <span>⚠ {failure}</span>
      </div>
    );
  }
  return (
    <img
      src={src}
      alt={alt}
      className={className}
      {...rest}
      onError={() => {
        setFailure("loading…");
        fetch(src, { method: "HEAD" })
          .then((r) =>
            setFailure(
              r.status === 404
                ? "Image file not found (it was moved or deleted)"
                : r.ok
                  ? "The file is not a readable image"
                  : `The server answered ${r.status}`,
            ),
          )
          .catch(() => setFailure("The server cannot be reached"));
      }}
    />
  );
}
